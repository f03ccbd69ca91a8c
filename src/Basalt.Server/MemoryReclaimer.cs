using Basalt.Engine;

namespace Basalt.Server;

/// <summary>
/// Asks the garbage collector for a background collection once the shards have dropped enough values and then stopped.
///
/// A dropped value (DEL, expiry, an overwrite, FLUSHALL) is garbage on the managed heap until a collection runs, and
/// collections run only when the server allocates: an idle server, or one serving GETs, never collects. INFO
/// used_memory and <c>basalt_memory_used_bytes</c> then kept counting the garbage for good (20 values of 50 MB
/// deleted: 1.1 GB, for as long as one watched), where Redis's used_memory falls at once.
///
/// The shards report what they drop in chunks of at least 1 MB (<see cref="ShardStore.Reclaim"/>); a flush reports
/// its share of the heap, estimated from the keys it held (<see cref="Flushed"/>). Once the drops since the last
/// collection reach 1/16 of the heap (at least 1 MB), a one-shot timer is armed for 1 s later, and every later drop
/// pushes it back: the collection starts once the drops have stopped for 1 s, and at least <see cref="MinInterval"/>
/// after the previous one. Steady churn (a cache whose keys keep expiring, overwrites) keeps pushing it back and is
/// left to the runtime's own collections, which its allocations bring: a review measured that collecting every
/// couple of seconds under 90 MB/s of overwrites made every gen-2 collection of the run one of ours, with pauses of
/// 370–560 ms. The collection is a background (concurrent) gen-2 one, started on a thread-pool thread, so no loop
/// waits for it. The timer is armed only by drops, so an idle server does nothing. The heap keeps most freed memory
/// mapped for reuse (the runtime's regions), so the process's resident size falls later or not at all; the heap's count
/// of bytes in use, which used_memory reports, falls when the collection ends.
/// </summary>
internal sealed class MemoryReclaimer : IReclaimSink, IDisposable
{
    /// <summary>The least time between the starts of two collections.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long drops must stop before the collection starts.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    private readonly Timer _timer;
    private readonly int _shards;
    private long _droppedSinceStart;
    private long _heapAtStart;
    private long _lastStartMs = long.MinValue / 2;
    private long _dueAtMs = long.MaxValue;
    private long _collections;

    public MemoryReclaimer(int shards)
    {
        _shards = shards;
        _timer = new Timer(static s => ((MemoryReclaimer)s!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);
    }

    /// <summary>Collections started so far (<c>basalt_runtime_gc_reclaims_total</c>).</summary>
    public long Collections => Volatile.Read(ref _collections);

    public void Dropped(long bytes)
    {
        var total = Interlocked.Add(ref _droppedSinceStart, bytes);
        if (total < Math.Max(ShardStore.DropReportChunk, Volatile.Read(ref _heapAtStart) / 16))
        {
            return;
        }

        // Push the collection back while drops go on; re-arm only when that moves it by 100 ms or more, so a stream of
        // drops costs the timer's lock a few times a second at most.
        var now = Environment.TickCount64;
        var due = Math.Max(now + (long)Quiet.TotalMilliseconds, Volatile.Read(ref _lastStartMs) + (long)MinInterval.TotalMilliseconds);
        var current = Volatile.Read(ref _dueAtMs);
        if (current == long.MaxValue || due - current >= 100)
        {
            Volatile.Write(ref _dueAtMs, due);
            _timer.Change(due - now, Timeout.Infinite);
        }
    }

    /// <summary>
    /// A shard emptied a database of <paramref name="keys"/> keys out of the <paramref name="shardKeys"/> it held: counted
    /// as that share of the shard's share of the heap. Values' sizes are not kept per database, and walking the table to
    /// add them up would make FLUSHDB as slow as the keys are many; a flush of one key among a million is then next to
    /// nothing (a review saw FLUSHDB of one key force a collection of a 683 MB heap every second).
    /// </summary>
    public void Flushed(long keys, long shardKeys)
    {
        var heap = (double)GC.GetTotalMemory(forceFullCollection: false);
        Dropped((long)(heap / _shards * keys / Math.Max(1, shardKeys)));
    }

    public void Dispose() => _timer.Dispose();

    private void OnTimer()
    {
        Volatile.Write(ref _dueAtMs, long.MaxValue);
        if (Interlocked.Exchange(ref _droppedSinceStart, 0) == 0)
        {
            return;
        }

        Volatile.Write(ref _lastStartMs, Environment.TickCount64);
        Volatile.Write(ref _heapAtStart, GC.GetTotalMemory(forceFullCollection: false));
        Interlocked.Increment(ref _collections);
        GC.Collect(2, GCCollectionMode.Forced, blocking: false);
    }
}
