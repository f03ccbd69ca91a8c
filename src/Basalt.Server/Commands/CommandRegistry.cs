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
        Conn(t, "time", 1, CommandFlags.Loading | CommandFlags.Stale | CommandFlags.Fast, AclCategories.Fast, "Returns the server time.", group: "server");
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

        t.Add(Container("client", AclCategories.Slow, "A container for client connection commands.", "connection",
            Sub("id", 2, ConnSlow, CommandFlags.NoScript, "Returns the unique client ID of the connection."),
            Sub("setname", 3, ConnSlow, CommandFlags.NoScript, "Sets the connection name."),
            Sub("getname", 2, ConnSlow, CommandFlags.NoScript, "Returns the name of the connection."),
            Sub("info", 2, ConnSlow, CommandFlags.NoScript, "Returns information about the connection."),
            Sub("setinfo", 4, ConnSlow, "Sets information specific to the client or connection."),
            Sub("no-evict", 3, ConnSlow | AclCategories.Admin | AclCategories.Dangerous, CommandFlags.Admin | CommandFlags.NoScript, "Sets the client eviction mode of the connection."),
            Sub("no-touch", 3, ConnFast, "Controls whether commands sent by the client affect the LRU/LFU of accessed keys."),
            Sub("help", 2, ConnSlow, "Returns helpful text about the different subcommands."),
            SubOp("list", -2, ConnSlow | AclCategories.Admin | AclCategories.Dangerous, CommandFlags.Admin | CommandFlags.NoScript, static (in OpRequest r) => new ClientListOp(r), "Lists open connections."),
            SubOp("kill", -3, ConnSlow | AclCategories.Admin | AclCategories.Dangerous, CommandFlags.Admin | CommandFlags.NoScript, static (in OpRequest r) => new ClientKillOp(r), "Terminates open connections.")));

        t.Add(Container("config", AclCategories.Slow, "A container for server configuration commands.", "server",
            Sub("get", -3, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, "Returns the effective values of configuration parameters."),
            Sub("set", -4, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, "Sets configuration parameters in-flight."),
            Sub("help", 2, AclCategories.Slow, "Returns helpful text about the different subcommands."),
            Sub("rewrite", 2, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, "Persists the effective configuration to file."),
            SubOp("resetstat", 2, AdminSlow, CommandFlags.Admin | CommandFlags.NoScript, static (in OpRequest r) => new ResetStatOp(r), "Resets the server's statistics.")));

        // Bare COMMAND is valid (it lists every command), so its arity is -1 unlike the other containers.
        t.Add(Container("command", -1, ConnSlow, CommandFlags.Loading | CommandFlags.Stale, "Returns detailed information about all commands.", "server",
            Sub("count", 2, ConnSlow, "Returns a count of commands."),
            Sub("info", -2, ConnSlow, "Returns information about one, multiple or all commands."),
            Sub("docs", -2, ConnSlow, "Returns documentary information about one, multiple or all commands."),
            Sub("list", -2, ConnSlow, "Returns a list of command names."),
            Sub("getkeys", -4, ConnSlow, "Extracts the key names from an arbitrary command."),
            Sub("help", 2, ConnSlow, "Returns helpful text about the different subcommands.")));

        // OBJECT's data subcommands are registered by the engine; HELP runs on the connection.
        var obj = t.Find("object")!;
        obj.Subcommands!["help"] = Sub("help", 2, AclCategories.Keyspace | AclCategories.Slow, "Returns helpful text about the different subcommands.");
        t.Reindex(obj);
        return t;
    }

    private static void Conn(CommandTable t, string name, int arity, CommandFlags flags, AclCategories acl, string summary, string since = "1.0.0", string group = "connection") =>
        t.Add(new CommandSpec { Name = name, Arity = arity, Flags = flags, Acl = acl, Kind = CommandKind.Connection, Summary = summary, Since = since, Group = group });

    private static CommandSpec Sub(string name, int arity, AclCategories acl, string summary) => Sub(name, arity, acl, CommandFlags.None, summary);

    /// <summary>A subcommand with Redis's loading and stale flags, plus <paramref name="flags"/>.</summary>
    private static CommandSpec Sub(string name, int arity, AclCategories acl, CommandFlags flags, string summary) =>
        new() { Name = name, Arity = arity, Flags = CommandFlags.Loading | CommandFlags.Stale | flags, Acl = acl, Kind = CommandKind.Connection, Summary = summary };

    private static CommandSpec SubOp(string name, int arity, AclCategories acl, CommandFlags flags, OpFactory factory, string summary) =>
        new() { Name = name, Arity = arity, Flags = CommandFlags.Loading | CommandFlags.Stale | flags, Acl = acl, Kind = CommandKind.Global, CreateOp = factory, Summary = summary };

    private static CommandSpec Container(string name, AclCategories acl, string summary, string group, params CommandSpec[] subs) =>
        Container(name, -2, acl, CommandFlags.None, summary, group, subs);

    private static CommandSpec Container(string name, int arity, AclCategories acl, CommandFlags flags, string summary, string group, params CommandSpec[] subs)
    {
        var map = new Dictionary<string, CommandSpec>();
        foreach (var s in subs)
        {
            map[s.Name] = s;
        }

        return new CommandSpec { Name = name, Arity = arity, Flags = flags, Acl = acl, Kind = CommandKind.Connection, Subcommands = map, Summary = summary, Group = group };
    }
}
