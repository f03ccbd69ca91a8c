using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Basalt.Engine.Keyspace;

/// <summary>
/// A chained hash table of entries with power-of-two buckets. It exists (rather than a Dictionary)
/// for SCAN: Redis's reverse-binary cursor visits every key present for the whole scan at least
/// once, even when the table grows or shrinks between calls. It also gives random sampling.
/// Resizing is done at once; incremental rehash is a known gap (docs/architecture.md).
/// </summary>
public sealed unsafe class KeyTable
{
    private const int MinBuckets = 16;
    private Entry?[] _buckets = new Entry?[MinBuckets];

    public int Count { get; private set; }

    private ulong Mask => (ulong)_buckets.Length - 1;

    public Entry? Find(ReadOnlySpan<byte> key, ulong hash)
    {
        for (var e = _buckets[(int)(hash & Mask)]; e is not null; e = e.Next)
        {
            if (e.Hash == hash && key.SequenceEqual(e.Key))
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>
    /// One stage of a batch's prefetch (<see cref="LookupPrefetch"/>): 0 asks for the bucket slot, 1 for the
    /// head entry (its slot fetched by stage 0), 2 for that entry's key and value. Each stage only reads what
    /// the stage before asked for, so the misses of a whole batch overlap instead of coming one after another.
    /// A prefetch is a hint: it never faults, and a stale address (the GC moved the object) only wastes it.
    /// </summary>
    public void Prefetch(ulong hash, int stage)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        ref var slot = ref _buckets[(int)(hash & Mask)];
        if (stage == 0)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref slot));
            return;
        }

        var e = slot;
        if (e is null)
        {
            return;
        }

        if (stage == 1)
        {
            var at = (byte*)Unsafe.As<Entry, nint>(ref e);
            Sse.Prefetch0(at);
            Sse.Prefetch0(at + 64);
            return;
        }

        var key = e.Key;
        var value = e.Value;
        Sse.Prefetch0((void*)Unsafe.As<byte[], nint>(ref key));
        Sse.Prefetch0((void*)Unsafe.As<object, nint>(ref value));
    }

    /// <summary>Adds an entry whose key is known to be absent.</summary>
    public void Add(Entry entry)
    {
        if (Count >= _buckets.Length)
        {
            Resize(_buckets.Length * 2);
        }

        ref var head = ref _buckets[(int)(entry.Hash & Mask)];
        entry.Next = head;
        head = entry;
        Count++;
    }

    public bool Remove(Entry entry)
    {
        ref var link = ref _buckets[(int)(entry.Hash & Mask)];
        while (link is not null)
        {
            if (ReferenceEquals(link, entry))
            {
                link = entry.Next;
                entry.Next = null;
                Count--;
                if (_buckets.Length > MinBuckets && Count < _buckets.Length / 8)
                {
                    Resize(_buckets.Length / 2);
                }

                return true;
            }

            link = ref link.Next;
        }

        return false;
    }

    public void Clear()
    {
        _buckets = new Entry?[MinBuckets];
        Count = 0;
    }

    /// <summary>Visits one bucket at <paramref name="cursor"/> and returns the next cursor (0 when done).</summary>
    public ulong ScanStep(ulong cursor, List<Entry> output)
    {
        var mask = Mask;
        for (var e = _buckets[(int)(cursor & mask)]; e is not null; e = e.Next)
        {
            output.Add(e);
        }

        // Increment the reversed cursor: high bits first, so a resize never skips a bucket.
        cursor |= ~mask;
        cursor = ReverseBits(cursor);
        cursor++;
        return ReverseBits(cursor);
    }

    /// <summary>A uniformly chosen bucket's random element; null when the table is empty.</summary>
    public Entry? Random(Random rng)
    {
        if (Count == 0)
        {
            return null;
        }

        while (true)
        {
            var head = _buckets[rng.Next(_buckets.Length)];
            if (head is null)
            {
                continue;
            }

            var len = 0;
            for (var e = head; e is not null; e = e.Next)
            {
                len++;
            }

            var pick = rng.Next(len);
            var it = head;
            while (pick-- > 0)
            {
                it = it!.Next;
            }

            return it;
        }
    }

    /// <summary>Every entry (KEYS, FLUSH bookkeeping). Allocation-free struct enumeration.</summary>
    public Enumerator GetEnumerator() => new(_buckets);

    private static ulong ReverseBits(ulong v)
    {
        v = ((v >> 1) & 0x5555555555555555UL) | ((v & 0x5555555555555555UL) << 1);
        v = ((v >> 2) & 0x3333333333333333UL) | ((v & 0x3333333333333333UL) << 2);
        v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FUL) | ((v & 0x0F0F0F0F0F0F0F0FUL) << 4);
        v = ((v >> 8) & 0x00FF00FF00FF00FFUL) | ((v & 0x00FF00FF00FF00FFUL) << 8);
        v = ((v >> 16) & 0x0000FFFF0000FFFFUL) | ((v & 0x0000FFFF0000FFFFUL) << 16);
        return (v >> 32) | (v << 32);
    }

    private void Resize(int size)
    {
        var old = _buckets;
        _buckets = new Entry?[size];
        var mask = (ulong)size - 1;
        foreach (var head in old)
        {
            var e = head;
            while (e is not null)
            {
                var next = e.Next;
                ref var slot = ref _buckets[(int)(e.Hash & mask)];
                e.Next = slot;
                slot = e;
                e = next;
            }
        }
    }

    public struct Enumerator
    {
        private readonly Entry?[] _buckets;
        private int _bucket;
        private Entry? _current;

        internal Enumerator(Entry?[] buckets)
        {
            _buckets = buckets;
            _bucket = -1;
            _current = null;
        }

        public readonly Entry Current => _current!;

        public bool MoveNext()
        {
            if (_current?.Next is { } n)
            {
                _current = n;
                return true;
            }

            while (++_bucket < _buckets.Length)
            {
                if (_buckets[_bucket] is { } head)
                {
                    _current = head;
                    return true;
                }
            }

            return false;
        }
    }
}
