using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics.X86;

namespace Basalt.Engine.Keyspace;

/// <summary>
/// A chained hash table of entries with power-of-two buckets. It exists (rather than a Dictionary)
/// for SCAN: Redis's reverse-binary cursor visits every key present for the whole scan at least
/// once, even when the table grows or shrinks between calls. It also gives random sampling.
/// <para>
/// Resizing is incremental, as in Redis: a resize allocates the new bucket array and then each
/// lookup, insert and delete moves a few old buckets into it (<see cref="RehashStep"/>), so no single
/// operation walks the whole table. While a resize is under way an entry lives in the new array if its
/// old bucket index is below <see cref="_rehashIndex"/>, and in the old array otherwise.
/// </para>
/// </summary>
public sealed unsafe class KeyTable
{
    private const int MinBuckets = 16;

    /// <summary>Old buckets moved per operation while a resize is under way (empty ones visited: ten times that, at most).</summary>
    private const int StepBuckets = 4;

    private Entry?[] _buckets = new Entry?[MinBuckets];

    /// <summary>The array a resize moves entries into; null when no resize is under way.</summary>
    private Entry?[]? _next;

    /// <summary>Old buckets below this index have been moved into <see cref="_next"/>.</summary>
    private int _rehashIndex;

    public int Count { get; private set; }

    /// <summary>True while a resize is moving buckets (DEBUG HTSTATS-style introspection and tests).</summary>
    public bool IsRehashing => _next is not null;

    /// <summary>Bucket count once any resize under way has finished.</summary>
    public int Capacity => (_next ?? _buckets).Length;

    public Entry? Find(ReadOnlySpan<byte> key, ulong hash)
    {
        if (_next is not null)
        {
            RehashStep(StepBuckets);
        }

        for (var e = Slot(hash); e is not null; e = e.Next)
        {
            if (e.Hash == hash && key.SequenceEqual(e.Key))
            {
                return e;
            }
        }

        return null;
    }

    /// <summary>Stages of a batch's prefetch (<see cref="Prefetch"/>).</summary>
    public const int PrefetchStages = 4;

    /// <summary>
    /// One stage of a batch's prefetch (<see cref="LookupPrefetch"/>): 0 asks for the bucket slot, 1 for the
    /// head entry (its slot fetched by stage 0). Stages 2 and 3 walk the entries the stages before fetched: at the
    /// key's own entry they ask for its key and value, and past an entry of another key they ask for the next one in
    /// the chain. So a key second in its chain, or a missing key's chain of two, is fetched too; at the table's load
    /// of up to one entry per bucket that is about one lookup in five. Each stage only reads what the stage before
    /// asked for, so the misses of a whole batch overlap instead of coming one after another. A prefetch is a hint: it
    /// never faults, and a stale address (the GC moved the object) only wastes it.
    /// </summary>
    public void Prefetch(ulong hash, int stage)
    {
        if (!Sse.IsSupported)
        {
            return;
        }

        ref var slot = ref Slot(hash);
        if (stage == 0)
        {
            Sse.Prefetch0(Unsafe.AsPointer(ref slot));
            return;
        }

        var e = slot;
        for (var depth = 1; e is not null; depth++)
        {
            if (depth == stage)
            {
                PrefetchObject(e);
                return;
            }

            if (e.Hash == hash)
            {
                // Asked for once, by the stage after the one that fetched this entry.
                if (depth == stage - 1)
                {
                    var key = e.Key;
                    var value = e.Value;
                    Sse.Prefetch0((void*)Unsafe.As<byte[], nint>(ref key));
                    Sse.Prefetch0((void*)Unsafe.As<object, nint>(ref value));
                }

                return;
            }

            e = e.Next;
        }
    }

    /// <summary>Asks for an entry's first two cache lines: its header and fields.</summary>
    private static void PrefetchObject(Entry e)
    {
        var at = (byte*)Unsafe.As<Entry, nint>(ref e);
        Sse.Prefetch0(at);
        Sse.Prefetch0(at + 64);
    }

    /// <summary>Adds an entry whose key is known to be absent.</summary>
    public void Add(Entry entry)
    {
        if (_next is not null)
        {
            RehashStep(StepBuckets);
        }

        if (Count >= Capacity)
        {
            BeginResize(Capacity * 2);
        }

        ref var head = ref Slot(entry.Hash);
        entry.Next = head;
        head = entry;
        Count++;
    }

    public bool Remove(Entry entry)
    {
        ref var link = ref Slot(entry.Hash);
        while (link is not null)
        {
            if (ReferenceEquals(link, entry))
            {
                link = entry.Next;
                entry.Next = null;
                Count--;
                if (_next is not null)
                {
                    RehashStep(StepBuckets);
                }
                else if (_buckets.Length > MinBuckets && Count < _buckets.Length / 8)
                {
                    BeginResize(_buckets.Length / 2);
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
        _next = null;
        _rehashIndex = 0;
        Count = 0;
    }

    /// <summary>
    /// Visits the buckets at <paramref name="cursor"/> and returns the next cursor (0 when done). While a
    /// resize is under way it visits the cursor's bucket in the smaller array and every bucket of the larger
    /// one that it expands into, as Redis's dictScan does, so no key present throughout is skipped.
    /// </summary>
    public ulong ScanStep(ulong cursor, List<Entry> output)
    {
        if (_next is null)
        {
            var mask = (ulong)_buckets.Length - 1;
            AddChain(_buckets[(int)(cursor & mask)], output);
            return NextCursor(cursor, mask);
        }

        var (small, large) = _buckets.Length < _next.Length ? (_buckets, _next) : (_next, _buckets);
        var smallMask = (ulong)small.Length - 1;
        var largeMask = (ulong)large.Length - 1;
        AddChain(small[(int)(cursor & smallMask)], output);
        do
        {
            AddChain(large[(int)(cursor & largeMask)], output);
            cursor = NextCursor(cursor, largeMask);
        }
        while ((cursor & (smallMask ^ largeMask)) != 0);

        return cursor;
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
            Entry? head;
            if (_next is null)
            {
                head = _buckets[rng.Next(_buckets.Length)];
            }
            else
            {
                // Old buckets below the rehash index are empty: draw from the rest of the old array and all of the new.
                var i = _rehashIndex + rng.Next(_buckets.Length - _rehashIndex + _next.Length);
                head = i < _buckets.Length ? _buckets[i] : _next[i - _buckets.Length];
            }

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
    public Enumerator GetEnumerator() => new(_buckets, _next);

    private static ulong ReverseBits(ulong v)
    {
        v = ((v >> 1) & 0x5555555555555555UL) | ((v & 0x5555555555555555UL) << 1);
        v = ((v >> 2) & 0x3333333333333333UL) | ((v & 0x3333333333333333UL) << 2);
        v = ((v >> 4) & 0x0F0F0F0F0F0F0F0FUL) | ((v & 0x0F0F0F0F0F0F0F0FUL) << 4);
        v = ((v >> 8) & 0x00FF00FF00FF00FFUL) | ((v & 0x00FF00FF00FF00FFUL) << 8);
        v = ((v >> 16) & 0x0000FFFF0000FFFFUL) | ((v & 0x0000FFFF0000FFFFUL) << 16);
        return (v >> 32) | (v << 32);
    }

    private static ulong NextCursor(ulong cursor, ulong mask)
    {
        // Increment the reversed cursor: high bits first, so a resize never skips a bucket.
        cursor |= ~mask;
        cursor = ReverseBits(cursor);
        cursor++;
        return ReverseBits(cursor);
    }

    private static void AddChain(Entry? head, List<Entry> output)
    {
        for (var e = head; e is not null; e = e.Next)
        {
            output.Add(e);
        }
    }

    /// <summary>The bucket a hash lives in: the new array's once its old bucket has been moved.</summary>
    private ref Entry? Slot(ulong hash)
    {
        var i = (int)(hash & ((ulong)_buckets.Length - 1));
        if (_next is not null && i < _rehashIndex)
        {
            return ref _next[(int)(hash & ((ulong)_next.Length - 1))];
        }

        return ref _buckets[i];
    }

    /// <summary>Starts moving into an array of <paramref name="size"/> buckets, finishing any resize still under way first.</summary>
    private void BeginResize(int size)
    {
        if (_next is not null)
        {
            RehashStep(int.MaxValue);
        }

        _next = new Entry?[size];
        _rehashIndex = 0;
    }

    /// <summary>
    /// Moves up to <paramref name="buckets"/> non-empty old buckets into the new array, visiting at most ten
    /// times that many empty ones, and swaps the arrays once the old one is empty.
    /// </summary>
    private void RehashStep(int buckets)
    {
        var next = _next!;
        var old = _buckets;
        var mask = (ulong)next.Length - 1;
        var emptyVisits = buckets >= int.MaxValue / 10 ? int.MaxValue : buckets * 10;
        while (buckets > 0 && _rehashIndex < old.Length)
        {
            var e = old[_rehashIndex];
            if (e is null)
            {
                _rehashIndex++;
                if (--emptyVisits == 0)
                {
                    break;
                }

                continue;
            }

            old[_rehashIndex++] = null;
            while (e is not null)
            {
                var following = e.Next;
                ref var slot = ref next[(int)(e.Hash & mask)];
                e.Next = slot;
                slot = e;
                e = following;
            }

            buckets--;
        }

        if (_rehashIndex == old.Length)
        {
            _buckets = next;
            _next = null;
            _rehashIndex = 0;
        }
    }

    public struct Enumerator
    {
        private readonly Entry?[]? _second;
        private Entry?[]? _buckets;
        private int _bucket;
        private Entry? _current;

        internal Enumerator(Entry?[] buckets, Entry?[]? second)
        {
            _buckets = buckets;
            _second = second;
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

            while (_buckets is not null)
            {
                while (++_bucket < _buckets.Length)
                {
                    if (_buckets[_bucket] is { } head)
                    {
                        _current = head;
                        return true;
                    }
                }

                // The old array is done; a resize under way keeps the rest of the entries in the new one.
                _buckets = ReferenceEquals(_buckets, _second) ? null : _second;
                _bucket = -1;
            }

            return false;
        }
    }
}
