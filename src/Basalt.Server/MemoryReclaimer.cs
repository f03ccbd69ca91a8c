using Basalt.Engine;

namespace Basalt.Server;

/// <summary>
/// Asks the garbage collector for a background collection once the shards have dropped enough values.
///
/// A dropped value (DEL, expiry, an overwrite, FLUSHALL) is garbage on the managed heap until a collection runs, and
/// collections run only when the server allocates: an idle server, or one serving GETs, never collects. INFO
/// used_memory and <c>basalt_memory_used_bytes</c> then kept counting the garbage for good (20 values of 50 MB
/// deleted: 1.1 GB, for as long as one watched), where Redis's used_memory falls at once.
///
/// The shards report what they drop in chunks of at least 1 MB (<see cref="ShardStore.Reclaim"/>). Counted since the
/// last collection started, the dropped bytes lead to:
/// <list type="bullet">
/// <item>a collection as soon as allowed, once they reach a quarter of the heap (at least 64 MB), or at a flush of a
/// database with keys while the heap holds at least 64 MB;</item>
/// <item>a collection 1 s after the drops stop, once they reach 1/16 of the heap (at least 1 MB): the tail of a burst of
/// deletes, which the first rule would leave, is collected once the burst is over. Drops that go on (a cache whose keys
/// expire all the time) keep pushing it back, so steady churn is left to the first rule and to the runtime's own
/// collections, which its allocations bring.</item>
/// </list>
/// Collections start at least <see cref="MinInterval"/> apart, from a one-shot timer on a thread-pool thread, so no
/// loop waits; each is a background (concurrent) gen-2 collection, whose pauses are short. Requests while one is due
/// join it. The only timer is armed by drops, never re-armed by itself: an idle server does nothing. The heap keeps
/// most freed memory mapped for reuse (the runtime's regions), so the process's resident size falls later or not at all;
/// the heap's count of bytes in use, which used_memory reports, falls when the collection ends.
/// </summary>
internal sealed class MemoryReclaimer : IReclaimSink, IDisposable
{
    /// <summary>The least time between the starts of two collections.</summary>
    public static readonly TimeSpan MinInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long drops must stop before their tail is collected.</summary>
    public static readonly TimeSpan Quiet = TimeSpan.FromSeconds(1);

    /// <summary>The least drop, and the least heap at a flush, that starts a collection as soon as allowed.</summary>
    public const long PromptFloor = 64L << 20;

    private readonly Timer _timer;
    private long _droppedSinceStart;
    private long _heapAtStart;
    private long _lastStartMs = long.MinValue / 2;
    private long _dueAtMs = long.MaxValue;
    private int _prompt;
    private long _collections;

    public MemoryReclaimer() => _timer = new Timer(static s => ((MemoryReclaimer)s!).OnTimer(), this, Timeout.Infinite, Timeout.Infinite);

    /// <summary>Collections started so far (<c>basalt_runtime_gc_reclaims_total</c>).</summary>
    public long Collections => Volatile.Read(ref _collections);

    public void Dropped(long bytes)
    {
        var total = Interlocked.Add(ref _droppedSinceStart, bytes);
        var heap = Volatile.Read(ref _heapAtStart);
        if (total >= Math.Max(PromptFloor, heap / 4))
        {
            Prompt();
        }
        else if (total >= Math.Max(ShardStore.DropReportChunk, heap / 16) && Volatile.Read(ref _prompt) == 0)
        {
            // Push the tail's collection back while drops go on; re-arm only when that moves it by 100 ms or more, so a
            // stream of drops costs the timer's lock a few times a second at most.
            var due = Math.Max(Environment.TickCount64 + (long)Quiet.TotalMilliseconds, Volatile.Read(ref _lastStartMs) + (long)MinInterval.TotalMilliseconds);
            if (due - Volatile.Read(ref _dueAtMs) >= 100 || Volatile.Read(ref _dueAtMs) == long.MaxValue)
            {
                Arm(due);
            }
        }
    }

    public void Flushed()
    {
        if (GC.GetTotalMemory(forceFullCollection: false) >= PromptFloor)
        {
            Prompt();
        }
    }

    public void Dispose() => _timer.Dispose();

    private void Prompt()
    {
        if (Interlocked.Exchange(ref _prompt, 1) == 0)
        {
            Arm(Math.Max(Environment.TickCount64, Volatile.Read(ref _lastStartMs) + (long)MinInterval.TotalMilliseconds));
        }
    }

    private void Arm(long dueAtMs)
    {
        Volatile.Write(ref _dueAtMs, dueAtMs);
        _timer.Change(Math.Max(0, dueAtMs - Environment.TickCount64), Timeout.Infinite);
    }

    private void OnTimer()
    {
        Volatile.Write(ref _dueAtMs, long.MaxValue);
        if (Volatile.Read(ref _prompt) == 0 && Volatile.Read(ref _droppedSinceStart) == 0)
        {
            return;
        }

        Volatile.Write(ref _lastStartMs, Environment.TickCount64);
        Volatile.Write(ref _heapAtStart, GC.GetTotalMemory(forceFullCollection: false));
        Interlocked.Exchange(ref _droppedSinceStart, 0);
        Volatile.Write(ref _prompt, 0);
        Interlocked.Increment(ref _collections);
        GC.Collect(2, GCCollectionMode.Forced, blocking: false);
    }
}
