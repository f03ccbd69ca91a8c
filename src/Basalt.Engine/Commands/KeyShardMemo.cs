namespace Basalt.Engine.Commands;

/// <summary>
/// The shard of each key of one multi-key command, as the router's one-shard check found them, handed to the op the
/// command then becomes (<see cref="OpRequest.KeyShards"/>, read by <see cref="ShardOp"/>'s routing) so that each key's
/// slot is computed once. A connection owns one; it is filled and read on the connection's loop, within the dispatch of
/// that one command, and is valid for no other.
/// </summary>
public sealed class KeyShardMemo
{
    /// <summary>Commands of more arguments than this are not memoised: their keys' slots are computed again.</summary>
    public const int MaxArgs = 64;

    private readonly ushort[] _shards = new ushort[MaxArgs];

    /// <summary>The key range it holds the shards of: arguments First, First + Step, … up to Last.</summary>
    public int First { get; private set; }

    public int Step { get; private set; }

    public int Last { get; private set; }

    /// <summary>True once <see cref="Begin"/> started it for the command being dispatched; cleared before the next.</summary>
    public bool Valid { get; private set; }

    /// <summary>The shard of key argument <paramref name="argIndex"/>, which the range covers.</summary>
    public int this[int argIndex]
    {
        get => _shards[argIndex];
        set => _shards[argIndex] = (ushort)value;
    }

    /// <summary>Starts holding the shards of keys <paramref name="first"/>…<paramref name="last"/>: false if they don't fit.</summary>
    public bool Begin(int first, int step, int last)
    {
        if (last >= MaxArgs)
        {
            return false;
        }

        (First, Step, Last, Valid) = (first, step, last, true);
        return true;
    }

    public void Clear() => Valid = false;

    /// <summary>True when it holds the shards of exactly the keys <paramref name="first"/>, +<paramref name="step"/>…<paramref name="last"/>.</summary>
    public bool Covers(int first, int step, int last) => Valid && First == first && Step == step && Last == last;
}
