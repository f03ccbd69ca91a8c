using Basalt.Engine.Commands;

namespace Basalt.Server.Commands;

/// <summary>One key specification, as Redis 7 gives it: keys from <see cref="BeginIndex"/> (find_keys range), with access flags.</summary>
/// <param name="LastKey">The last key relative to the first: 0 for one key, -1 for every argument to the end.</param>
internal sealed record KeySpec(int BeginIndex, int LastKey, int KeyStep, string[] Flags)
{
    /// <summary>Whether the key at argument <paramref name="position"/> (of <paramref name="argc"/>) falls in this spec.</summary>
    public bool Covers(int position, int argc)
    {
        var last = LastKey < 0 ? argc + LastKey : BeginIndex + LastKey;
        return position >= BeginIndex && position <= last && (position - BeginIndex) % KeyStep == 0;
    }
}

/// <summary>
/// The key specifications of the commands that take keys, with Redis 7.0's flags in its order (COMMAND INFO, COMMAND
/// GETKEYSANDFLAGS). Every keyed command in the table has an entry (<see cref="For"/> throws otherwise, and a test
/// walks them all against Redis). Their notes are not kept: they are Redis's documentation prose.
/// </summary>
internal static class KeySpecs
{
    private static readonly string[] RO = ["RO"];
    private static readonly string[] ROAccess = ["RO", "access"];
    private static readonly string[] RWAccessUpdate = ["RW", "access", "update"];
    private static readonly string[] RWAccessDelete = ["RW", "access", "delete"];
    private static readonly string[] RWUpdate = ["RW", "update"];
    private static readonly string[] OWUpdate = ["OW", "update"];
    private static readonly string[] OWInsert = ["OW", "insert"];
    private static readonly string[] RMDelete = ["RM", "delete"];

    private static readonly Dictionary<string, KeySpec[]> ByCommand = new(StringComparer.Ordinal)
    {
        ["append"] = [One(["RW", "insert"])],
        ["copy"] = [One(ROAccess), One(OWUpdate, 2)],
        ["decr"] = [One(RWAccessUpdate)],
        ["decrby"] = [One(RWAccessUpdate)],
        ["del"] = [All(RMDelete)],
        ["exists"] = [All(RO)],
        ["expire"] = [One(RWUpdate)],
        ["expireat"] = [One(RWUpdate)],
        ["expiretime"] = [One(ROAccess)],
        ["get"] = [One(ROAccess)],
        ["getdel"] = [One(RWAccessDelete)],
        ["getex"] = [One(RWAccessUpdate)],
        ["getrange"] = [One(ROAccess)],
        ["getset"] = [One(RWAccessUpdate)],
        ["incr"] = [One(RWAccessUpdate)],
        ["incrby"] = [One(RWAccessUpdate)],
        ["incrbyfloat"] = [One(RWAccessUpdate)],
        ["lcs"] = [new KeySpec(1, 1, 1, ROAccess)],
        ["mget"] = [All(ROAccess)],
        ["move"] = [One(RWAccessUpdate)],
        ["mset"] = [new KeySpec(1, -1, 2, OWUpdate)],
        ["msetnx"] = [new KeySpec(1, -1, 2, OWInsert)],
        ["object|encoding"] = [One(RO, 2)],
        ["object|freq"] = [One(RO, 2)],
        ["object|idletime"] = [One(RO, 2)],
        ["object|refcount"] = [One(RO, 2)],
        ["persist"] = [One(RWUpdate)],
        ["pexpire"] = [One(RWUpdate)],
        ["pexpireat"] = [One(RWUpdate)],
        ["pexpiretime"] = [One(ROAccess)],
        ["psetex"] = [One(OWUpdate)],
        ["pttl"] = [One(ROAccess)],
        ["rename"] = [One(RWAccessDelete), One(OWUpdate, 2)],
        ["renamenx"] = [One(RWAccessDelete), One(OWInsert, 2)],

        // Its flags vary with the arguments (GET reads the old value): see FlagsFor.
        ["set"] = [One(["RW", "access", "update", "variable_flags"])],
        ["setex"] = [One(OWUpdate)],
        ["setnx"] = [One(OWInsert)],
        ["setrange"] = [One(RWUpdate)],
        ["strlen"] = [One(RO)],
        ["substr"] = [One(ROAccess)],
        ["touch"] = [All(RO)],
        ["ttl"] = [One(ROAccess)],
        ["type"] = [One(RO)],
        ["unlink"] = [All(RMDelete)],
    };

    /// <summary>The key specs of <paramref name="spec"/>, which must take keys.</summary>
    public static KeySpec[] For(CommandSpec spec) =>
        ByCommand.TryGetValue(spec.FullName, out var specs)
            ? specs
            : throw new InvalidOperationException($"no key specs for '{spec.FullName}'");

    /// <summary>
    /// The flags of the key at <paramref name="position"/> in <paramref name="args"/> (the full command), as Redis's
    /// getKeysAndFlags gives them: the covering spec's, except SET's, which are OW update without GET and RW access
    /// update with it (Redis's setGetKeys).
    /// </summary>
    public static string[] FlagsFor(CommandSpec spec, Basalt.Protocol.ArgView args, int position)
    {
        if (spec.FullName == "set")
        {
            for (var i = 3; i < args.Count; i++)
            {
                if (Syntax.Is(args[i], "get"u8))
                {
                    return RWAccessUpdate;
                }
            }

            return OWUpdate;
        }

        foreach (var s in For(spec))
        {
            if (s.Covers(position, args.Count))
            {
                return s.Flags;
            }
        }

        throw new InvalidOperationException($"no key spec of '{spec.FullName}' covers argument {position}");
    }

    private static KeySpec One(string[] flags, int index = 1) => new(index, 0, 1, flags);

    private static KeySpec All(string[] flags) => new(1, -1, 1, flags);
}
