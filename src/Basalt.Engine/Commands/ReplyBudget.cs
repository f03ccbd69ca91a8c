namespace Basalt.Engine.Commands;

/// <summary>
/// The reply bytes the ops of one coordinator (an op, or a batch of them) may build for their client, on all their shards
/// together: each op counts a shard's part of its reply once it is built, so the ops stop, and their client is cut off,
/// once the sum passes what the client may hold. A per-buffer limit alone let a batch of 16 MGETs over two shards build
/// 16 limits' worth. Counted with one interlocked add per part, from any shard's thread.
/// </summary>
public sealed class ReplyBudget
{
    private long _used;
    private long _limit = long.MaxValue;

    /// <summary>True once the parts counted so far passed the limit: later parts are not built.</summary>
    public bool Exceeded => Volatile.Read(ref _used) > _limit;

    /// <summary>Starts over for a new op or batch; only while no part of the last one runs.</summary>
    public void Reset(long limit)
    {
        _limit = limit > 0 ? limit : long.MaxValue;
        Volatile.Write(ref _used, 0);
    }

    /// <summary>
    /// What a part about to be built may hold: the limit less what other parts counted so far (parts built at the same
    /// time on other shards may each take it, and are counted when done).
    /// </summary>
    public int Room(int cap) => (int)Math.Clamp(_limit - Volatile.Read(ref _used), 0, cap);

    /// <summary>A part passed its room while being built: no later part is built either.</summary>
    public void Exceed() => Volatile.Write(ref _used, long.MaxValue / 2);

    /// <summary>Counts a part of <paramref name="bytes"/>; false when the sum is now past the limit.</summary>
    public bool Add(long bytes) => Interlocked.Add(ref _used, bytes) <= _limit;
}
