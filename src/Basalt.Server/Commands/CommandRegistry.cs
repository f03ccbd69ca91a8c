using Basalt.Engine.Commands;

namespace Basalt.Server.Commands;

/// <summary>Builds the full command table: the engine's data families plus the server's own commands.</summary>
internal static class CommandRegistry
{
    private const AclCategories ConnFast = AclCategories.Connection | AclCategories.Fast;
    private const AclCategories ConnSlow = AclCategories.Connection | AclCategories.Slow;
    private const AclCategories AdminSlow = AclCategories.Admin | AclCategories.Slow | AclCategories.Dangerous;

    public static CommandTable Build()
    {
        var t = new CommandTable();
        StringCommands.Register(t);
        KeyCommands.Register(t);
        KeyspaceOps.Register(t);

        Conn(t, "ping", -1, CommandFlags.Fast, ConnFast, "Returns the server's liveliness response.");
        Conn(t, "echo", 2, CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast, ConnFast, "Returns the given string.");
        Conn(t, "hello", -1, CommandFlags.NoScript | CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast | CommandFlags.NoAuth | CommandFlags.AllowBusy, ConnFast, "Handshakes with the Redis server.", "6.0.0");
        Conn(t, "quit", -1, CommandFlags.AllowBusy | CommandFlags.NoScript | CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast | CommandFlags.NoAuth, ConnFast, "Closes the connection.");
        Conn(t, "reset", 1, CommandFlags.NoScript | CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast | CommandFlags.NoAuth | CommandFlags.AllowBusy, ConnFast, "Resets the connection.", "6.2.0");
        Conn(t, "select", 2, CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast, ConnFast, "Changes the selected database.");
        Conn(t, "auth", -2, CommandFlags.NoScript | CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast | CommandFlags.NoAuth | CommandFlags.AllowBusy, ConnFast, "Authenticates the connection.");
        Conn(t, "time", 1, CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast, AclCategories.Fast, "Returns the server time.", group: "server", since: "2.6.0");
        Conn(t, "shutdown", -1, CommandFlags.Admin | CommandFlags.NoScript | CommandFlags.Loading | CommandFlags.Stale | CommandFlags.NoMulti | CommandFlags.AllowBusy, AdminSlow, "Synchronously saves the database(s) to disk and shuts down the Redis server.", group: "server");

        Conn(t, "debug", -2, CommandFlags.Admin | CommandFlags.NoScript | CommandFlags.Loading | CommandFlags.Stale, AdminSlow, "A container for debugging commands.", group: "server");

        t.Add(new CommandSpec
        {
            Name = "info",
            Arity = -1,
            Flags = CommandFlags.Loading | CommandFlags.Stale,
            Acl = AclCategories.Slow | AclCategories.Dangerous,
            Kind = CommandKind.Global,
            CreateOp = static (in OpRequest r) => new InfoOp(r),
            Summary = "Returns information and statistics about the server.",
            Group = "server",
        });

        t.Add(Container("client", AclCategories.Slow, "A container for client connection commands.", "connection", "2.4.0",
            Sub("id", 2, ConnSlow, CommandFlags.NoScript, "Returns the unique client ID of the connection.", since: "5.0.0"),
            Sub("setname", 3, ConnSlow, CommandFlags.NoScript, "Sets the connection name.", since: "2.6.9"),
            Sub("getname", 2, ConnSlow, CommandFlags.NoScript, "Returns the name of the connection.", since: "2.6.9"),
            Sub("info", 2, ConnSlow, CommandFlags.NoScript, "Returns information about the connection.", since: "6.2.0"),
            Sub("setinfo", 4, ConnSlow, "Sets information specific to the client or connection.", since: "7.2.0"),
            Sub("no-evict", 3, ConnSlow | AclCategories.Admin | AclCategories.Dangerous, CommandFlags.Admin | CommandFlags.NoScript, "Sets the client eviction mode of the connection.", since: "7.0.0"),
            Sub("no-touch", 3, ConnFast, "Controls whether commands sent by the client affect the LRU/LFU of accessed keys.", since: "7.2.0"),
            Sub("help", 2, ConnSlow, "Returns helpful text about the different subcommands.", since: "5.0.0"),
            SubOp("list", -2, ConnSlow | AclCategories.Admin | AclCategories.Dangerous, CommandFlags.Admin | CommandFlags.NoScript, static (in OpRequest r) => new ClientListOp(r), "Lists open connections.", since: "2.4.0"),
            SubOp("kill", -3, ConnSlow | AclCategories.Admin | AclCategories.Dangerous, CommandFlags.Admin | CommandFlags.NoScript, static (in OpRequest r) => new ClientKillOp(r), "Terminates open connections.", since: "2.4.0")));

        t.Add(Container("config", AclCategories.Slow, "A container for server configuration commands.", "server", "2.0.0",
            Sub("get", -3, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, "Returns the effective values of configuration parameters.", since: "2.0.0"),
            Sub("set", -4, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, "Sets configuration parameters in-flight.", since: "2.0.0"),
            Sub("help", 2, AclCategories.Slow, "Returns helpful text about the different subcommands.", since: "5.0.0"),
            Sub("rewrite", 2, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, "Persists the effective configuration to file.", since: "2.8.0"),
            SubOp("resetstat", 2, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, static (in OpRequest r) => new ResetStatOp(r), "Resets the server's statistics.", since: "2.0.0")));

        // Bare COMMAND is valid (it lists every command), so its arity is -1 unlike the other containers.
        t.Add(Container("command", -1, ConnSlow, CommandFlags.Loading | CommandFlags.Stale, "Returns detailed information about all commands.", "server", "2.8.13",
            Sub("count", 2, ConnSlow, "Returns a count of commands.", since: "2.8.13"),
            Sub("info", -2, ConnSlow, "Returns information about one, multiple or all commands.", since: "2.8.13"),
            Sub("docs", -2, ConnSlow, "Returns documentary information about one, multiple or all commands.", since: "7.0.0"),
            Sub("list", -2, ConnSlow, "Returns a list of command names.", since: "7.0.0"),
            Sub("getkeys", -4, ConnSlow, "Extracts the key names from an arbitrary command.", since: "2.8.13"),
            Sub("getkeysandflags", -4, ConnSlow, "Extracts the key names and their access flags from an arbitrary command.", since: "7.0.0"),
            Sub("help", 2, ConnSlow, "Returns helpful text about the different subcommands.", since: "5.0.0")));

        // OBJECT's data subcommands are registered by the engine; HELP runs on the connection.
        var obj = t.Find("object")!;
        obj.Subcommands!["help"] = Sub("help", 2, AclCategories.Keyspace | AclCategories.Slow, "Returns helpful text about the different subcommands.", since: "6.2.0");
        t.Reindex(obj);
        return t;
    }

    private static void Conn(CommandTable t, string name, int arity, CommandFlags flags, AclCategories acl, string summary, string since = "1.0.0", string group = "connection") =>
        t.Add(new CommandSpec { Name = name, Arity = arity, Flags = flags, Acl = acl, Kind = CommandKind.Connection, Summary = summary, Since = since, Group = group });

    private static CommandSpec Sub(string name, int arity, AclCategories acl, string summary, string since = "1.0.0") => Sub(name, arity, acl, CommandFlags.None, summary, since);

    /// <summary>A subcommand with Redis's loading and stale flags, plus <paramref name="flags"/>.</summary>
    private static CommandSpec Sub(string name, int arity, AclCategories acl, CommandFlags flags, string summary, string since = "1.0.0") =>
        new() { Name = name, Arity = arity, Flags = CommandFlags.Loading | CommandFlags.Stale | flags, Acl = acl, Kind = CommandKind.Connection, Summary = summary, Since = since };

    private static CommandSpec SubOp(string name, int arity, AclCategories acl, CommandFlags flags, OpFactory factory, string summary, string since = "1.0.0") =>
        new() { Name = name, Arity = arity, Flags = CommandFlags.Loading | CommandFlags.Stale | flags, Acl = acl, Kind = CommandKind.Global, CreateOp = factory, Summary = summary, Since = since };

    private static CommandSpec Container(string name, AclCategories acl, string summary, string group, string since, params CommandSpec[] subs) =>
        Container(name, -2, acl, CommandFlags.None, summary, group, since, subs);

    private static CommandSpec Container(string name, int arity, AclCategories acl, CommandFlags flags, string summary, string group, string since, params CommandSpec[] subs)
    {
        var map = new Dictionary<string, CommandSpec>();
        foreach (var s in subs)
        {
            map[s.Name] = s;
        }

        return new CommandSpec { Name = name, Arity = arity, Flags = flags, Acl = acl, Kind = CommandKind.Connection, Subcommands = map, Summary = summary, Group = group, Since = since };
    }
}
