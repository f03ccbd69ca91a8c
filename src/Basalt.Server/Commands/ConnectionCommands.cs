using System.Text;
using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using Basalt.Server.Observability;
using Basalt.Server.Shards;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Server.Commands;

/// <summary>Commands that act on the connection or the server, not on keys (Redis networking.c, server.c).</summary>
internal static class ConnectionCommands
{
    public static void Register(Router r)
    {
        r.Handle("ping", Ping);
        r.Handle("echo", static (c, a, _) => c.Output.Bulk(a[1]));
        r.Handle("hello", Hello);
        r.Handle("quit", static (c, _, _) =>
        {
            c.Output.Ok();
            c.CloseAfterReply();
        });
        r.Handle("reset", Reset);
        r.Handle("select", Select);
        r.Handle("auth", Auth);
        r.Handle("time", Time);
        r.Handle("shutdown", Shutdown);
        r.Handle("client|id", static (c, _, _) => c.Output.Integer(c.Id));
        r.Handle("client|setname", SetName);
        r.Handle("client|getname", static (c, _, _) =>
        {
            if (c.Name.Length == 0)
            {
                c.Output.NullBulk();
            }
            else
            {
                c.Output.Bulk(c.Name);
            }
        });
        r.Handle("client|info", static (c, _, _) => c.Output.Verbatim(Encoding.UTF8.GetBytes(ClientLine(c, self: true) + "\n")));
        r.Handle("client|setinfo", SetInfo);
        r.Handle("client|no-evict", static (c, a, _) => OnOff(c, a, v => c.NoEvict = v));
        r.Handle("client|no-touch", static (c, a, _) => OnOff(c, a, v => c.NoTouch = v));
        r.Handle("client|help", static (c, _, _) => Help(c, "CLIENT", "ID", "SETNAME <name>", "GETNAME", "INFO", "LIST [TYPE normal|master|replica|pubsub] [ID id [id ...]]", "KILL <ip:port> | <filter> <value> ...", "SETINFO <LIB-NAME|LIB-VER> <value>", "NO-EVICT (ON|OFF)", "NO-TOUCH (ON|OFF)"));
        r.Handle("config|get", ConfigGet);
        r.Handle("config|set", ConfigSet);
        r.Handle("config|help", static (c, _, _) => Help(c, "CONFIG", ConfigHelp));
        r.Handle("config|rewrite", ConfigRewrite);
        r.Handle("object|help", static (c, _, _) => Help(c, "OBJECT", ObjectHelp));
        r.Handle("debug", DebugCommands.Debug);
        CommandIntrospection.Register(r);
    }

    /// <summary>
    /// One CLIENT LIST line, with the fields of Redis 7.2 in their order; values are measured, not made up. As in Redis,
    /// qbuf is the whole batch being run for the client asking (<paramref name="self"/>), and only what is left to run
    /// for any other.
    /// </summary>
    public static string ClientLine(Connection c, bool self)
    {
        var now = Environment.TickCount64;
        var flags = (c.NoEvict ? "e" : string.Empty) + (c.NoTouch ? "T" : string.Empty);
        var events = c.WaitsToWrite ? "rw" : "r";
        var inCap = c.InputBufferCapacity;
        var outCap = c.Output.Capacity;
        return string.Create(System.Globalization.CultureInfo.InvariantCulture,
            $"id={c.Id} addr={c.RemoteEndPoint} laddr={c.LocalEndPoint} fd={c.Fd} name={c.Name} age={(now - c.CreatedMs) / 1000} idle={(now - c.LastInteractionMs) / 1000} flags={(flags.Length == 0 ? "N" : flags)} db={c.Db} sub=0 psub=0 ssub=0 multi=-1 qbuf={(self ? c.InputBufferLength : c.UnprocessedInput)} qbuf-free={inCap - c.InputBufferLength} argv-mem=0 multi-mem=0 rbs={outCap} rbp={c.OutputPeak} obl={c.PendingOutput} oll=0 omem={outCap} tot-mem={inCap + outCap} events={events} cmd={c.LastCommand} user=default redir=-1 resp={c.Output.Protocol} lib-name={c.LibName} lib-ver={c.LibVersion}");
    }

    private static void Ping(Connection c, ArgView a, CommandSpec spec)
    {
        if (a.Count > 2)
        {
            c.Output.Error(Engine.Errors.WrongArity("ping"));
        }
        else if (a.Count == 2)
        {
            c.Output.Bulk(a[1]);
        }
        else
        {
            c.Output.SimpleString("PONG"u8);
        }
    }

    private static void Hello(Connection c, ArgView a, CommandSpec spec)
    {
        var proto = c.Output.Protocol;
        if (a.Count >= 2)
        {
            if (!Numbers.TryParseLong(a[1], out var v))
            {
                c.Output.Error("ERR Protocol version is not an integer or out of range");
                return;
            }

            if (v is < 2 or > 3)
            {
                c.Output.Error("NOPROTO unsupported protocol version");
                return;
            }

            proto = (int)v;
        }

        // As in Redis 7.0, each option takes effect as it is read: AUTH and SETNAME before a later bad option stay done.
        for (var j = 2; j < a.Count; j++)
        {
            var more = a.Count - j - 1;
            if (Is(a[j], "AUTH"u8) && more >= 2)
            {
                if (!CheckPassword(c, a[j + 1], a[j + 2]))
                {
                    c.Output.Error("WRONGPASS invalid username-password pair or user is disabled.");
                    return;
                }

                c.Authenticated = true;
                j += 2;
            }
            else if (Is(a[j], "SETNAME"u8) && more >= 1)
            {
                if (!ValidName(a[j + 1]))
                {
                    c.Output.Error("ERR Client names cannot contain spaces, newlines or special characters.");
                    return;
                }

                c.Name = Encoding.UTF8.GetString(a[j + 1]);
                j++;
            }
            else
            {
                new ErrorText().Add("ERR Syntax error in HELLO option '").Add(a[j]).Add("'").WriteTo(c.Output);
                return;
            }
        }

        if (!c.Authenticated)
        {
            c.Output.Error("NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time");
            return;
        }

        c.Output.Protocol = proto;
        var o = c.Output;
        o.MapHeader(7);
        o.Bulk("server"u8);
        o.Bulk("redis"u8);
        o.Bulk("version"u8);
        o.Bulk(ServerInfo.RedisVersion);
        o.Bulk("proto"u8);
        o.Integer(proto);
        o.Bulk("id"u8);
        o.Integer(c.Id);
        o.Bulk("mode"u8);
        o.Bulk("standalone"u8);
        o.Bulk("role"u8);
        o.Bulk("master"u8);
        o.Bulk("modules"u8);
        o.ArrayHeader(0);
    }

    private static void Reset(Connection c, ArgView a, CommandSpec spec)
    {
        c.Db = 0;
        c.Name = string.Empty;
        c.NoTouch = false;
        c.Output.Protocol = 2;
        c.Authenticated = string.IsNullOrEmpty(c.Loop.Server.Config.RequirePass);
        c.Output.SimpleString("RESET"u8);
    }

    private static void Select(Connection c, ArgView a, CommandSpec spec)
    {
        var error = Engine.Errors.IntArgument(a[1], out var db);
        if (!error.IsEmpty)
        {
            c.Output.Error(error);
            return;
        }

        if (db < 0 || db >= c.Loop.Server.Options.Databases)
        {
            c.Output.Error(Engine.Errors.DbOutOfRange);
            return;
        }

        c.Db = db;
        c.Output.Ok();
    }

    private static void Auth(Connection c, ArgView a, CommandSpec spec)
    {
        if (a.Count > 3)
        {
            c.Output.Error(Engine.Errors.Syntax);
            return;
        }

        if (a.Count == 2 && string.IsNullOrEmpty(c.Loop.Server.Config.RequirePass))
        {
            c.Output.Error("ERR AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?");
            return;
        }

        var ok = a.Count == 2 ? CheckPassword(c, "default"u8, a[1]) : CheckPassword(c, a[1], a[2]);
        if (!ok)
        {
            c.Output.Error("WRONGPASS invalid username-password pair or user is disabled.");
            return;
        }

        c.Authenticated = true;
        c.Output.Ok();
    }

    /// <summary>The default user is the only user: nopass without requirepass, else that password.</summary>
    private static bool CheckPassword(Connection c, ReadOnlySpan<byte> user, ReadOnlySpan<byte> pass)
    {
        if (!user.SequenceEqual("default"u8))
        {
            return false;
        }

        var required = c.Loop.Server.Config.RequirePass;
        if (string.IsNullOrEmpty(required))
        {
            return true;
        }

        var expected = Encoding.UTF8.GetBytes(required);
        return System.Security.Cryptography.CryptographicOperations.FixedTimeEquals(expected, pass);
    }

    private static void Time(Connection c, ArgView a, CommandSpec spec)
    {
        var us = (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10;
        c.Output.ArrayHeader(2);
        c.Output.BulkInteger(us / 1_000_000);
        c.Output.BulkInteger(us % 1_000_000);
    }

    private static void Shutdown(Connection c, ArgView a, CommandSpec spec)
    {
        bool save = false, noSave = false, abort = false, other = false, force = false;
        for (var i = 1; i < a.Count; i++)
        {
            if (Is(a[i], "NOSAVE"u8))
            {
                noSave = true;
            }
            else if (Is(a[i], "SAVE"u8))
            {
                save = true;
            }
            else if (Is(a[i], "ABORT"u8))
            {
                abort = true;
            }
            else if (Is(a[i], "NOW"u8))
            {
                other = true;
            }
            else if (Is(a[i], "FORCE"u8))
            {
                other = true;
                force = true;
            }
            else
            {
                c.Output.Error(Engine.Errors.Syntax);
                return;
            }
        }

        // As Redis: SAVE with NOSAVE, or ABORT with any other flag, is an illegal combination.
        if ((save && noSave) || (abort && (save || noSave || other)))
        {
            c.Output.Error(Engine.Errors.Syntax);
            return;
        }

        // A stop that has begun is not waiting on anything ABORT could cancel (Redis aborts only a
        // shutdown still waiting for replicas), so there is never one in progress to abort.
        if (abort)
        {
            c.Output.Error("ERR No shutdown in progress.");
            return;
        }

        // There are no snapshots yet, so an explicit SAVE is a save that fails. Redis then refuses to stop, unless FORCE
        // says to stop whatever failed; stopping anyway would answer the request for a save with lost data.
        if (save)
        {
            c.Loop.Server.Log.ShutdownSaveRefused(force);
            if (!force)
            {
                c.Output.Error("ERR Errors trying to SHUTDOWN. Check logs.");
                return;
            }
        }

        // Like Redis, a successful SHUTDOWN sends no reply: the connection just closes.
        c.CloseAfterReply();
        c.Loop.Server.Log.ShutdownRequested();
        c.Loop.Server.RequestStop();
    }

    private static void SetName(Connection c, ArgView a, CommandSpec spec)
    {
        if (!ValidName(a[2]))
        {
            c.Output.Error("ERR Client names cannot contain spaces, newlines or special characters.");
            return;
        }

        c.Name = Encoding.UTF8.GetString(a[2]);
        c.Output.Ok();
    }

    private static void SetInfo(Connection c, ArgView a, CommandSpec spec)
    {
        var attr = Encoding.UTF8.GetString(a[2]);
        var isName = attr.Equals("lib-name", StringComparison.OrdinalIgnoreCase);
        if (!isName && !attr.Equals("lib-ver", StringComparison.OrdinalIgnoreCase))
        {
            new ErrorText().Add("ERR Unrecognized option '").Add(a[2]).Add("'").WriteTo(c.Output);
            return;
        }

        if (!ValidName(a[3]))
        {
            new ErrorText().Add("ERR ").Add(a[2]).Add(" cannot contain spaces, newlines or special characters.").WriteTo(c.Output);
            return;
        }

        var value = Encoding.UTF8.GetString(a[3]);
        if (isName)
        {
            c.LibName = value;
        }
        else
        {
            c.LibVersion = value;
        }

        c.Output.Ok();
    }

    private static void OnOff(Connection c, ArgView a, Action<bool> set)
    {
        if (Is(a[2], "ON"u8))
        {
            set(true);
        }
        else if (Is(a[2], "OFF"u8))
        {
            set(false);
        }
        else
        {
            c.Output.Error(Engine.Errors.Syntax);
            return;
        }

        c.Output.Ok();
    }

    /// <summary>Redis allows only '!'..'~' in client names and library info.</summary>
    private static bool ValidName(ReadOnlySpan<byte> name)
    {
        foreach (var b in name)
        {
            if (b is < (byte)'!' or > (byte)'~')
            {
                return false;
            }
        }

        return true;
    }

    private static void ConfigGet(Connection c, ArgView a, CommandSpec spec)
    {
        // As Redis 7.0: a name without glob characters is looked up as typed and answered under the name as typed;
        // a pattern answers under the settings' own names. A setting already in the reply is not added again.
        var config = c.Loop.Server.Config;
        var matches = new SortedDictionary<string, string>(StringComparer.Ordinal);
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 2; i < a.Count; i++)
        {
            // As Redis: a name with no glob character before its first NUL is looked up whole (so "hz\0x" names nothing);
            // a pattern is matched as a C string, up to the NUL.
            var pattern = CString(a[i]);
            if (pattern.IndexOfAny("[*?"u8) < 0)
            {
                var typed = Encoding.UTF8.GetString(a[i]);
                if (!seen.Contains(typed) && config.TryFind(typed, out var setting))
                {
                    seen.Add(typed);
                    matches[typed] = setting.Get();
                }

                continue;
            }

            foreach (var name in config.Names)
            {
                if (!seen.Contains(name) && Engine.Glob.Match(pattern, Encoding.UTF8.GetBytes(name), nocase: true))
                {
                    seen.Add(name);
                    matches[name] = config.Get(name);
                }
            }
        }

        c.Output.MapHeader(matches.Count);
        foreach (var (k, v) in matches)
        {
            c.Output.Bulk(k);
            c.Output.Bulk(v);
        }
    }

    /// <summary>CONFIG SET of several pairs is all or nothing: every value is validated before any is stored.</summary>
    private static void ConfigSet(Connection c, ArgView a, CommandSpec spec)
    {
        // Arity (-4) already refused fewer than one pair; an unpaired name after that is Redis's syntax error.
        if ((a.Count - 2) % 2 != 0)
        {
            c.Output.Error(Engine.Errors.Syntax);
            return;
        }

        var config = c.Loop.Server.Config;
        var pairs = new List<(string Name, string Value)>();
        for (var i = 2; i < a.Count; i += 2)
        {
            var name = Encoding.UTF8.GetString(a[i]).ToLowerInvariant();
            if (!config.IsKnown(name))
            {
                new ErrorText().Add("ERR Unknown option or number of arguments for CONFIG SET - '").Add(a[i]).Add("'").WriteTo(c.Output);
                return;
            }

            if (!config.IsMutable(name))
            {
                new ErrorText().Add("ERR CONFIG SET failed (possibly related to argument '").Add(a[i]).Add("') - can't set immutable config").WriteTo(c.Output);
                return;
            }

            if (pairs.Exists(p => p.Name == name))
            {
                new ErrorText().Add("ERR CONFIG SET failed (possibly related to argument '").Add(a[i]).Add("') - duplicate parameter").WriteTo(c.Output);
                return;
            }

            // Redis keeps a config value as a C string, so it ends at its first NUL. A value that isn't UTF-8 is refused:
            // decoded with replacement characters it would be kept as something other than what was sent, and a
            // requirepass set so would lock out every client that sends those bytes.
            if (!ConfigFileReader.TryDecode(CString(a[i + 1]), out var value))
            {
                new ErrorText().Add("ERR CONFIG SET failed (possibly related to argument '").Add(a[i]).Add("') - argument must be UTF-8 text").WriteTo(c.Output);
                return;
            }

            pairs.Add((name, value));
        }

        if (config.TrySetAll(pairs) is { } failure)
        {
            c.Output.Error($"ERR CONFIG SET failed (possibly related to argument '{failure.Name}') - {failure.Reason}");
            return;
        }

        c.Loop.Server.ApplyRuntimeConfig();
        c.Output.Ok();
    }

    /// <summary>CONFIG REWRITE: writes the running settings back into the config file the server started from.</summary>
    private static void ConfigRewrite(Connection c, ArgView a, CommandSpec spec)
    {
        var server = c.Loop.Server;
        if (server.Config.ConfigFile is not { } path)
        {
            c.Output.Error("ERR The server is running without a config file");
            return;
        }

        try
        {
            server.Config.Rewrite(path);
            server.Log.ConfigRewritten(path);
            c.Output.Ok();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            server.Log.ConfigRewriteFailed(path, ex.Message);
            c.Output.Error("ERR Rewriting config file: " + ex.Message);
        }
    }

    // Redis 7.0's HELP texts, line for line.
    private static readonly string[] ConfigHelp =
    [
        "GET <pattern>",
        "    Return parameters matching the glob-like <pattern> and their values.",
        "SET <directive> <value>",
        "    Set the configuration <directive> to <value>.",
        "RESETSTAT",
        "    Reset statistics reported by the INFO command.",
        "REWRITE",
        "    Rewrite the configuration file.",
    ];

    private static readonly string[] ObjectHelp =
    [
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
    ];

    private static void Help(Connection c, string command, params string[] lines)
    {
        c.Output.ArrayHeader(lines.Length + 3);
        c.Output.SimpleString($"{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:");
        foreach (var l in lines)
        {
            c.Output.SimpleString(l);
        }

        c.Output.SimpleString("HELP");
        c.Output.SimpleString("    Prints this help.");
    }
}
