namespace Basalt.Server.Shards;

/// <summary>
/// Bounded multi-producer, single-consumer ring (Vyukov's sequence-numbered cells).
/// Lock-free and allocation-free after construction. A full ring makes <see cref="TryEnqueue"/>
/// return false: the caller turns that into backpressure or a clear error, never a silent drop.
/// </summary>
internal sealed class MpscQueue<T>
    where T : class
{
    private readonly Cell[] _cells;
    private readonly int _mask;
    private long _enqueuePos;
    private long _dequeuePos;

    public MpscQueue(int capacity)
    {
        var size = 1;
        while (size < capacity)
        {
            size <<= 1;
        }

        _cells = new Cell[size];
        _mask = size - 1;
        for (var i = 0; i < size; i++)
        {
            _cells[i].Sequence = i;
        }
    }

    public int Capacity => _cells.Length;

    /// <summary>
    /// No item claimed. A producer's claim (the CAS on the enqueue position, a full fence) comes before its read of the
    /// consumer's parked flag, so a consumer that sets the flag and then sees this true can park: that producer will see
    /// the flag and wake it. Judging by published cells instead would lose that pairing (a cell is published by a plain
    /// release store, which a later load may pass). The price: between a claim and its publish, the consumer turns
    /// without parking, for the few instructions in between.
    /// </summary>
    public bool IsEmpty => Volatile.Read(ref _dequeuePos) >= Volatile.Read(ref _enqueuePos);

    public bool TryEnqueue(T item)
    {
        var pos = Volatile.Read(ref _enqueuePos);
        while (true)
        {
            ref var cell = ref _cells[pos & _mask];
            var seq = Volatile.Read(ref cell.Sequence);
            var diff = seq - pos;
            if (diff == 0)
            {
                var seen = Interlocked.CompareExchange(ref _enqueuePos, pos + 1, pos);
                if (seen == pos)
                {
                    cell.Item = item;
                    Volatile.Write(ref cell.Sequence, pos + 1);
                    return true;
                }

                pos = seen;
            }
            else if (diff < 0)
            {
                return false;
            }
            else
            {
                pos = Volatile.Read(ref _enqueuePos);
            }
        }
    }

    /// <summary>Single consumer only: the owning loop's thread.</summary>
    public bool TryDequeue(out T? item)
    {
        var pos = _dequeuePos;
        ref var cell = ref _cells[pos & _mask];
        var seq = Volatile.Read(ref cell.Sequence);
        if (seq - (pos + 1) < 0)
        {
            item = null;
            return false;
        }

        item = cell.Item;
        cell.Item = null;
        Volatile.Write(ref _dequeuePos, pos + 1);
        Volatile.Write(ref cell.Sequence, pos + _mask + 1);
        return true;
    }

    private struct Cell
    {
        public long Sequence;
        public T? Item;
    }
}
