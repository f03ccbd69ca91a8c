using Basalt.Protocol;

namespace Basalt.Engine.Commands;

[Flags]
public enum CommandFlags
{
    None = 0,
    Write = 1 << 0,
    ReadOnly = 1 << 1,
    DenyOom = 1 << 2,
    Admin = 1 << 3,
    NoScript = 1 << 4,
    Loading = 1 << 5,
    Stale = 1 << 6,
    Fast = 1 << 7,
    NoAuth = 1 << 8,
    SkipSlowlog = 1 << 9,
    AllowBusy = 1 << 10,
    SkipMonitor = 1 << 11,
    NoMulti = 1 << 12,
}

[Flags]
public enum AclCategories
{
    None = 0,
    Keyspace = 1 << 0,
    Read = 1 << 1,
    Write = 1 << 2,
    String = 1 << 3,
    Admin = 1 << 4,
    Fast = 1 << 5,
    Slow = 1 << 6,
    Dangerous = 1 << 7,
    Connection = 1 << 8,
}

/// <summary>Where a command runs; the server's router reads this, never the command's code.</summary>
public enum CommandKind
{
    /// <summary>Needs only the connection and server state; runs on the connection's loop.</summary>
    Connection,

    /// <summary>All its keys are in one slot; runs on the shard that owns it.</summary>
    Keyed,

    /// <summary>Keys may span shards; runs as a <see cref="ShardOp"/> that is atomic across them.</summary>
    Multi,

    /// <summary>Touches every shard (DBSIZE, FLUSHALL, KEYS…); a <see cref="ShardOp"/> over all shards.</summary>
    Global,
}

public delegate void KeyedHandler(ref CommandContext ctx);

public delegate ShardOp OpFactory(in OpRequest request);

/// <summary>One row of the declarative command table. COMMAND INFO/DOCS, ACL and routing all read it.</summary>
public sealed class CommandSpec
{
    private CommandSpec? _parent;
    private string? _fullName;

    public required string Name { get; init; }

    /// <summary>Redis arity: positive is exact, negative is a minimum; counts the command name.</summary>
    public required int Arity { get; init; }

    public CommandFlags Flags { get; init; }

    public int FirstKey { get; init; }

    public int LastKey { get; init; }

    public int KeyStep { get; init; }

    public AclCategories Acl { get; init; }

    public CommandKind Kind { get; init; }

    public KeyedHandler? Keyed { get; init; }

    public OpFactory? CreateOp { get; init; }

    /// <summary>
    /// For a <see cref="CommandKind.Multi"/> command: the whole command, for when every key it names is on one shard. It
    /// then runs there as a keyed command does, in its pipeline's group for that shard, with no op, no coordinator and no
    /// barrier: a pipeline of DELs or MGETs of keys on one shard each runs in batches, as GETs do. Null for a command
    /// that always runs as an op (RENAME, COPY, LCS).
    /// </summary>
    public KeyedHandler? OnOneShard { get; init; }

    public string Summary { get; init; } = string.Empty;

    public string Since { get; init; } = "1.0.0";

    public string Group { get; init; } = "generic";

    /// <summary>
    /// Position of an argument naming another database in which the command also reads and writes its key
    /// (MOVE), or 0. Key holds are by (database, key), so such a command waits while any key hold exists.
    /// </summary>
    public int OtherDbArg { get; internal set; }

    /// <summary>Subcommands by lower-case name (CLIENT, CONFIG, OBJECT, COMMAND).</summary>
    public Dictionary<string, CommandSpec>? Subcommands { get; init; }

    /// <summary>The container command of a subcommand.</summary>
    public CommandSpec? Parent
    {
        get => _parent;
        internal set
        {
            _parent = value;
            _fullName = value is null ? Name : value.Name + "|" + Name;
        }
    }

    /// <summary>Dense index, assigned by the table; servers key per-command state (stats, handlers) by it.</summary>
    public int Id { get; internal set; }

    /// <summary>"get", or "client|list" for a subcommand, as Redis names commands in errors and stats.</summary>
    public string FullName => _fullName ??= Name;

    public bool HasKeys => FirstKey > 0;

    public bool CheckArity(int argc) => Arity >= 0 ? argc == Arity : argc >= -Arity;

    /// <summary>Key argument positions by the legacy (first, last, step) spec.</summary>
    public bool TryGetKeyRange(int argc, out int first, out int last, out int step)
    {
        first = FirstKey;
        step = KeyStep;
        last = LastKey < 0 ? argc + LastKey : LastKey;
        return FirstKey > 0 && last >= first && last < argc;
    }
}

/// <summary>What a command's execution sees: its args, where to reply, and its shard's data.</summary>
public ref struct CommandContext
{
    public ArgView Args;
    public ReplyBuffer Reply;
    public ShardStore Store;
    public Keyspace.Database Db;
    public long NowMs;
    public CommandSpec Spec;
}

/// <summary>The inputs to build a <see cref="ShardOp"/>: args, selected db, routing, clock.</summary>
public readonly struct OpRequest
{
    public ArgView Args { get; init; }

    public int Db { get; init; }

    public SlotMap Slots { get; init; }

    public long NowMs { get; init; }

    public int DatabaseCount { get; init; }

    public CommandSpec Spec { get; init; }

    /// <summary>The requesting client's id (CLIENT KILL SKIPME); 0 when there is none.</summary>
    public long ClientId { get; init; }

    /// <summary>The client is in CLIENT NO-TOUCH mode: the op's lookups leave the keys' access time alone.</summary>
    public bool NoTouch { get; init; }

    /// <summary>
    /// The most reply bytes the client may still be sent (its output limit, less what waits for it): a buffer an op builds
    /// its reply in is bounded by it (<see cref="Basalt.Protocol.ReplyBuffer.Limit"/>). 0 leaves it unbounded.
    /// </summary>
    public int ReplyLimit { get; init; }

    /// <summary>The shards of the command's keys, when the router already found them for this very command; null otherwise.</summary>
    public KeyShardMemo? KeyShards { get; init; }
}
