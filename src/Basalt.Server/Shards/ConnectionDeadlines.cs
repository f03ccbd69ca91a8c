namespace Basalt.Server.Shards;

/// <summary>What a connection deadline on its loop is for (ShardLoop.WatchOutput, WatchLinger, WatchTrim).</summary>
internal enum ConnectionTimer
{
    OutputLimit,
    Linger,
    Trim,
}

/// <summary>
/// A loop's per-connection deadlines, in ms of <see cref="Environment.TickCount64"/>: a min-heap, so a park reads the
/// earliest alone. A closed connection's deadlines are not searched out when it closes: the loop counts them
/// (<see cref="AddStale"/>), they are skipped when they come due, and once they are more than half the heap it is rebuilt
/// without them, so each rebuild costs at most twice what it drops. Owned by the loop's thread.
/// </summary>
internal sealed class ConnectionDeadlines<T>(Func<T, bool> isClosed)
    where T : class
{
    /// <summary>Stale entries are left alone below this many: a rebuild would cost more than they do.</summary>
    public const int CompactAbove = 64;

    private readonly PriorityQueue<(T Conn, ConnectionTimer Kind), long> _heap = new();
    private int _stale;

    public int Count => _heap.Count;

    public bool TryPeekDue(out long due) => _heap.TryPeek(out _, out due);

    public void Add(T conn, ConnectionTimer kind, long due) => _heap.Enqueue((conn, kind), due);

    /// <summary>A connection closed with <paramref name="armed"/> deadlines still in the heap.</summary>
    public void AddStale(int armed) => _stale += armed;

    /// <summary>The next deadline due by <paramref name="now"/> of a connection still open; deadlines of closed ones are dropped on the way.</summary>
    public bool TryTakeDue(long now, out T conn, out ConnectionTimer kind)
    {
        while (_heap.TryPeek(out var entry, out var due) && due <= now)
        {
            _heap.Dequeue();
            if (isClosed(entry.Conn))
            {
                _stale = Math.Max(0, _stale - 1);
                continue;
            }

            (conn, kind) = entry;
            return true;
        }

        conn = null!;
        kind = default;
        return false;
    }

    /// <summary>Rebuilds the heap without closed connections' deadlines once they are more than half of it.</summary>
    public void CompactIfStale()
    {
        if (_stale <= CompactAbove || _stale * 2 <= _heap.Count)
        {
            return;
        }

        var live = new List<((T, ConnectionTimer), long)>(Math.Max(0, _heap.Count - _stale));
        foreach (var (entry, due) in _heap.UnorderedItems)
        {
            if (!isClosed(entry.Conn))
            {
                live.Add((entry, due));
            }
        }

        _heap.Clear();
        _heap.EnqueueRange(live);
        _stale = 0;
    }
}
