using System.Text;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;
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

    public void Handle(string fullName, ConnectionHandler handler)
    {
        var spec = FindFull(fullName) ?? throw new InvalidOperationException($"no command {fullName}");
        _handlers[spec.Id] = handler;
    }

    public CommandSpec? FindFull(string fullName)
    {
        var parts = fullName.Split('|');
        var spec = server.Commands.Find(parts[0]);
        return parts.Length == 1 || spec?.Subcommands is null ? spec : spec.Subcommands.GetValueOrDefault(parts[1]);
    }

    /// <summary>Resolves a request. On rejection, writes the error to <paramref name="errors"/> if given.</summary>
    public Route Resolve(Connection conn, ArgView args, ReplyBuffer? errors, out CommandSpec? spec)
    {
        spec = conn.CommandCache.Find(args[0], server.Commands);
        if (spec is null)
        {
            if (errors is not null)
            {
                errors.Error(UnknownCommand(args));
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
                    errors.Error($"ERR unknown subcommand '{Sanitize(args[1], 128)}'. Try {spec.Name.ToUpperInvariant()} HELP.");
                    conn.Loop.Stats.CountErrorCode("ERR"u8);
                }

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

        if (!conn.Authenticated && (spec.Parent ?? spec).Flags.HasFlag(CommandFlags.NoAuth) is false)
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
            _ => Route.Op,
        };
    }

    /// <summary>The shard owning a keyed command's key (all its keys share one slot by definition).</summary>
    public int ShardOfKeyed(CommandSpec spec, ArgView args) => server.Slots.ShardOf(args[spec.FirstKey]);

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

    /// <summary>Redis 7.0's text: the name cut to 128 bytes, then quoted args until 128 bytes of them.</summary>
    public static string UnknownCommand(ArgView args)
    {
        var list = new StringBuilder();
        for (var i = 1; i < args.Count && list.Length < 128; i++)
        {
            list.Append('\'').Append(Sanitize(args[i], 128 - list.Length)).Append("' ");
        }

        return $"ERR unknown command '{Sanitize(args[0], 128)}', with args beginning with: {list}";
    }

    /// <summary>Error text may not hold CR or LF; Redis replaces them with spaces.</summary>
    public static string Sanitize(ReadOnlySpan<byte> s, int max)
    {
        if (s.Length > max)
        {
            s = s[..max];
        }

        return Encoding.UTF8.GetString(s).Replace('\r', ' ').Replace('\n', ' ');
    }
}
