using System.Text;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Server.Commands;
using Basalt.Server.Observability;
using Basalt.Server.Shards;

namespace Basalt.Server;

internal enum Route
{
    Rejected,
    Connection,
    Keyed,
    Op,
}

internal delegate void ConnectionHandler(Connection conn, ArgView args, CommandSpec spec);

/// <summary>
/// Turns a request into a route by reading the command table: lookup, subcommand, arity, auth,
/// then where it runs. Checks run in Redis's processCommand order, so errors match.
/// </summary>
internal sealed class Router(BasaltServer server)
{
    private readonly ConnectionHandler?[] _handlers = new ConnectionHandler?[server.Commands.AllById.Count];
    private readonly CommandSpec? _debug = server.Commands.Find("debug");
    private long _securityWarnedAt;

    public void Handle(string fullName, ConnectionHandler handler)
    {
        var spec = FindFull(fullName) ?? throw new InvalidOperationException($"no command {fullName}");
        _handlers[spec.Id] = handler;
    }

    /// <summary>
    /// A command by its full name, "name" or "container|sub", as Redis's lookupCommandBySds finds it: strictly, so a
    /// second '|', or a '|' after a command without subcommands, finds nothing.
    /// </summary>
    public CommandSpec? FindFull(string fullName)
    {
        var parts = fullName.Split('|');
        var spec = server.Commands.Find(parts[0]);
        return parts.Length switch
        {
            1 => spec,
            2 => spec?.Subcommands?.GetValueOrDefault(parts[1]),
            _ => null,
        };
    }

    /// <summary>Resolves a request. On rejection, writes the error to <paramref name="errors"/> if given.</summary>
    public Route Resolve(Connection conn, ArgView args, ReplyBuffer? errors, out CommandSpec? spec)
    {
        spec = conn.CommandCache.Find(args[0], server.Commands);
        if (spec is null && IsCrossProtocolAttack(args[0]))
        {
            // Redis's securityWarningCommand: an HTTP request sent to the RESP port (a browser made to POST to it by a
            // web page) is closed at once, with no reply and nothing more sent, before any other check, auth included.
            if (errors is not null)
            {
                LogSecurityWarning();
                conn.Close("POST or Host: sent as a command");
            }

            return Route.Rejected;
        }

        if (spec is null)
        {
            if (errors is not null)
            {
                UnknownCommand(args).WriteTo(errors);
                conn.Loop.Stats.UnknownCommands++;
                conn.Loop.Stats.CountErrorCode("ERR"u8);
            }

            return Route.Rejected;
        }

        if (spec.Subcommands is not null && args.Count >= 2)
        {
            var sub = CommandTable.FindSub(spec, args[1]);
            if (sub is null)
            {
                if (errors is not null)
                {
                    new ErrorText().Add("ERR unknown subcommand '").Add(args[1], 128).Add($"'. Try {spec.Name.ToUpperInvariant()} HELP.").WriteTo(errors);
                    conn.Loop.Stats.CountErrorCode("ERR"u8);
                }

                // No command was found, as for an unknown name: CLIENT LIST shows cmd=NULL, as in Redis.
                spec = null;
                return Route.Rejected;
            }

            spec = sub;
        }

        if (!spec.CheckArity(args.Count))
        {
            if (errors is not null)
            {
                errors.Error(Errors.WrongArity(spec.FullName));
                conn.Loop.Stats.Rejected[spec.Id]++;
                conn.Loop.Stats.CountErrorCode("ERR"u8);
            }

            return Route.Rejected;
        }

        // Redis's protected commands: refused by enable-debug-command before the auth check, and counted as rejected.
        if (ReferenceEquals(spec, _debug) && !DebugCommands.Allowed(conn))
        {
            if (errors is not null)
            {
                errors.Error(DebugCommands.NotAllowed);
                conn.Loop.Stats.Rejected[spec.Id]++;
                conn.Loop.Stats.CountErrorCode("ERR"u8);
            }

            return Route.Rejected;
        }

        if (conn.NeedsAuth && (spec.Parent ?? spec).Flags.HasFlag(CommandFlags.NoAuth) is false)
        {
            if (errors is not null)
            {
                errors.Error("NOAUTH Authentication required.");
                conn.Loop.Stats.Rejected[spec.Id]++;
                conn.Loop.Stats.CountErrorCode("NOAUTH"u8);
            }

            return Route.Rejected;
        }

        return spec.Kind switch
        {
            CommandKind.Keyed => Route.Keyed,
            CommandKind.Connection => Route.Connection,
            CommandKind.Multi when spec.OnOneShard is not null && KeysOnOneShard(spec, args, conn.KeyShards) => Route.Keyed,
            _ => Route.Op,
        };
    }

    /// <summary>
    /// True when every key a multi-key command names is on one shard: it then runs there as a keyed command
    /// (<see cref="CommandSpec.OnOneShard"/>). The shards found are kept in <paramref name="memo"/> when they fit, for
    /// the connection to route the command by (<see cref="ShardOfKeyed"/>, <see cref="OpRequest.KeyShards"/>) without
    /// computing a slot again.
    /// </summary>
    private bool KeysOnOneShard(CommandSpec spec, ArgView args, KeyShardMemo memo)
    {
        var slots = server.Slots;
        if (slots.ShardCount == 1)
        {
            return true;
        }

        if (!spec.TryGetKeyRange(args.Count, out var first, out var last, out var step))
        {
            return false;
        }

        var shard = slots.ShardOf(args[first]);
        if (!memo.Begin(first, step, last))
        {
            for (var i = first + step; i <= last; i += step)
            {
                if (slots.ShardOf(args[i]) != shard)
                {
                    return false;
                }
            }

            return true;
        }

        // Every key's shard is needed either way: an op routes by them all.
        memo[first] = shard;
        var one = true;
        for (var i = first + step; i <= last; i += step)
        {
            var s = slots.ShardOf(args[i]);
            memo[i] = s;
            one &= s == shard;
        }

        return one;
    }

    private static bool IsCrossProtocolAttack(ReadOnlySpan<byte> name) =>
        Engine.Commands.Syntax.Is(name, "post"u8) || Engine.Commands.Syntax.Is(name, "host:"u8);

    /// <summary>As Redis: the warning is logged at most once a minute, whatever the number of such clients.</summary>
    private void LogSecurityWarning()
    {
        var now = Environment.TickCount64;
        var last = Interlocked.Read(ref _securityWarnedAt);
        if ((last == 0 || now - last > 60_000) && Interlocked.CompareExchange(ref _securityWarnedAt, now, last) == last)
        {
            server.Log.SecurityAttack();
        }
    }

    /// <summary>
    /// The shard owning a keyed command's keys: all in one slot for a keyed command, all on one shard for a multi-key one
    /// routed as keyed (<see cref="KeysOnOneShard"/>).
    /// </summary>
    public int ShardOfKeyed(CommandSpec spec, ArgView args, KeyShardMemo? memo) =>
        memo is { } known && known.First == spec.FirstKey ? known[spec.FirstKey] : server.Slots.ShardOf(args[spec.FirstKey]);

    public void RunConnectionCommand(Connection conn, CommandSpec spec, ArgView args)
    {
        var before = conn.Output.Length;
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var handler = _handlers[spec.Id];
        if (handler is null)
        {
            conn.Output.Error($"ERR unknown subcommand or wrong number of arguments for '{spec.FullName}'");
        }
        else
        {
            handler(conn, args, spec);
        }

        conn.Loop.RecordCommand(spec, System.Diagnostics.Stopwatch.GetTimestamp() - start, conn.Output, before);
    }

    /// <summary>
    /// Redis 7.0's text: the name as <c>%.128s</c>, then each arg quoted as <c>'%.*s' </c> with the room left under 128
    /// bytes (measured before its opening quote), while the list is shorter than 128 bytes.
    /// </summary>
    public static ErrorText UnknownCommand(ArgView args)
    {
        var list = new ErrorText();
        for (var i = 1; i < args.Count && list.Length < 128; i++)
        {
            var room = 128 - list.Length;
            list.Add("'").Add(args[i], room).Add("' ");
        }

        var text = new ErrorText().Add("ERR unknown command '").Add(args[0], 128).Add("', with args beginning with: ");
        return text.Add(list.Bytes);
    }
}
