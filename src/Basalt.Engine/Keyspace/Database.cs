namespace Basalt.Engine.Keyspace;

/// <summary>
/// One logical database (SELECT n) within one shard: the key table plus an index of keys with a TTL,
/// which active expiry samples at random. Every change goes through here so the effect sink sees it.
/// </summary>
public sealed class Database
{
    private readonly ShardStore _store;
    private Entry[] _volatile = new Entry[16];

    public Database(ShardStore store, int index)
    {
        _store = store;
        Index = index;
    }

    public int Index { get; internal set; }

    public KeyTable Table { get; private set; } = new();

    public int Count => Table.Count;

    public int VolatileCount { get; private set; }

    /// <summary>Finds a live key, deleting it first if its time has passed (lazy expiry).</summary>
    public Entry? Find(ReadOnlySpan<byte> key, long nowMs) => Find(key, KeyHash.Of(key), nowMs);

    /// <summary>
    /// <see cref="Find(ReadOnlySpan{byte}, long)"/> with the key's <see cref="KeyHash"/> already computed, as a multi-key
    /// op computes it once for its holds, its prefetch and its lookups. So do the other overloads taking a hash.
    /// </summary>
    public Entry? Find(ReadOnlySpan<byte> key, ulong hash, long nowMs)
    {
        var e = Table.Find(key, hash);
        if (e is null)
        {
            return null;
        }

        if (e.IsExpiredAt(nowMs))
        {
            ExpireNow(e);
            return null;
        }

        return e;
    }

    /// <summary>Finds a key for a read or write, counting the access (OBJECT IDLETIME).</summary>
    public Entry? Touch(ReadOnlySpan<byte> key, long nowMs) => Touch(key, KeyHash.Of(key), nowMs);

    public Entry? Touch(ReadOnlySpan<byte> key, ulong hash, long nowMs)
    {
        var e = Find(key, hash, nowMs);
        if (e is not null && !_store.NoTouch)
        {
            e.LastAccessSec = _store.LruClockSec;
        }

        return e;
    }

    /// <summary>
    /// A read lookup, as Redis's lookupKeyRead: counts a keyspace hit or miss (INFO keyspace_hits/misses) and, unless
    /// <paramref name="touch"/> is false (Redis's LOOKUP_NOTOUCH: EXISTS, TYPE, TTL, OBJECT), the access. Lookups made
    /// to write (SET, INCR, APPEND, DEL, RENAME, EXPIRE…) go through <see cref="Find"/> or <see cref="Touch"/> and
    /// count nothing, as in Redis.
    /// </summary>
    public Entry? Read(ReadOnlySpan<byte> key, long nowMs, bool touch = true) => Read(key, KeyHash.Of(key), nowMs, touch);

    public Entry? Read(ReadOnlySpan<byte> key, ulong hash, long nowMs, bool touch = true)
    {
        var e = touch ? Touch(key, hash, nowMs) : Find(key, hash, nowMs);
        _store.Stats.CountRead(e);
        return e;
    }

    /// <summary>Sets a string value, replacing any value of any type. Keeps the expiry only if asked.</summary>
    public Entry SetString(ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long expireAtMs, bool keepTtl, long nowMs) =>
        SetString(key, KeyHash.Of(key), value, expireAtMs, keepTtl, nowMs);

    public Entry SetString(ReadOnlySpan<byte> key, ulong hash, ReadOnlySpan<byte> value, long expireAtMs, bool keepTtl, long nowMs)
    {
        var e = Table.Find(key, hash);
        if (e is not null && e.IsExpiredAt(nowMs))
        {
            ExpireNow(e);
            e = null;
        }

        if (e is null)
        {
            e = new Entry(key.ToArray(), hash, value.ToArray());
            Table.Add(e);
        }
        else
        {
            // Reuse the old buffer when the size matches: a hot SET of a fixed-size value allocates nothing.
            if (e.Value is byte[] old && old.Length == value.Length)
            {
                value.CopyTo(old);
            }
            else
            {
                _store.Dropped(e.ValueBytes);
                e.Value = value.ToArray();
            }

            if (!keepTtl)
            {
                SetExpiryIndex(e, -1);
            }
        }

        e.Encoding = StringEncodings.Classify(value);
        e.LastAccessSec = _store.LruClockSec;
        if (!keepTtl || expireAtMs >= 0)
        {
            SetExpiryIndex(e, expireAtMs);
        }

        _store.Effects.Emit(EffectKind.SetString, Index, e.Key, (byte[])e.Value, e.ExpireAtMs);
        return e;
    }

    /// <summary>
    /// Inserts a value of any type under a key known to be absent (RENAME, COPY, MOVE targets), last accessed
    /// <paramref name="idleSec"/> seconds ago: a moved value keeps its idle time, as Redis's object keeps its LRU clock.
    /// </summary>
    public Entry Insert(byte[] key, object value, StringEncoding encoding, long expireAtMs, long idleSec = 0)
    {
        var e = new Entry(key, KeyHash.Of(key), value) { Encoding = encoding, LastAccessSec = _store.LruClockSec - idleSec };
        Table.Add(e);
        SetExpiryIndex(e, expireAtMs);
        EmitValue(e);
        return e;
    }

    /// <summary>Records a value change made in place (APPEND, SETRANGE, INCR) through the effect sink.</summary>
    public void ValueChanged(Entry e) => EmitValue(e);

    public bool Delete(ReadOnlySpan<byte> key, long nowMs) => Delete(key, KeyHash.Of(key), nowMs);

    public bool Delete(ReadOnlySpan<byte> key, ulong hash, long nowMs)
    {
        var e = Find(key, hash, nowMs);
        if (e is null)
        {
            return false;
        }

        Remove(e);
        return true;
    }

    public void Remove(Entry e) => Remove(e, valueMoves: false);

    /// <summary>
    /// Removes <paramref name="e"/> from the table. <paramref name="valueMoves"/>: its value goes on under another key
    /// (RENAME, MOVE), so it is not counted as dropped.
    /// </summary>
    public void Remove(Entry e, bool valueMoves)
    {
        if (!valueMoves)
        {
            _store.Dropped(e.ValueBytes + e.Key.Length);
        }

        SetExpiryIndex(e, -1);
        Table.Remove(e);
        _store.Effects.Emit(EffectKind.Delete, Index, e.Key, default, -1);
    }

    public void SetExpire(Entry e, long expireAtMs)
    {
        SetExpiryIndex(e, expireAtMs);
        _store.Effects.Emit(expireAtMs >= 0 ? EffectKind.Expire : EffectKind.Persist, Index, e.Key, default, expireAtMs);
    }

    public void Flush()
    {
        if (Table.Count > 0)
        {
            _store.Flushed(Table.Count);
        }

        Table = new KeyTable();
        _volatile = new Entry[16];
        VolatileCount = 0;
        _store.Effects.Emit(EffectKind.FlushDb, Index, default, default, -1);
    }

    /// <summary>
    /// One active-expiry round: samples up to <paramref name="samples"/> volatile keys and removes the
    /// expired ones. Returns how many it removed, so the caller can decide to run another round.
    /// </summary>
    public int ExpireSample(long nowMs, int samples, Random rng, IExpiryGuard? guard = null)
    {
        var removed = 0;
        for (var i = 0; i < samples && VolatileCount > 0; i++)
        {
            var e = _volatile[rng.Next(VolatileCount)];
            if (e.IsExpiredAt(nowMs) && (guard is null || !guard.IsHeld(Index, e.Key)))
            {
                ExpireNow(e);
                removed++;
            }
        }

        return removed;
    }

    /// <summary>Replaces this database's contents with another's (SWAPDB within a shard).</summary>
    internal void SwapContents(Database other)
    {
        (Table, other.Table) = (other.Table, Table);
        (_volatile, other._volatile) = (other._volatile, _volatile);
        (VolatileCount, other.VolatileCount) = (other.VolatileCount, VolatileCount);
    }

    private void EmitValue(Entry e)
    {
        if (e.IsString)
        {
            _store.Effects.Emit(EffectKind.SetString, Index, e.Key, e.StringBytes, e.ExpireAtMs);
        }
    }

    /// <summary>
    /// Deletes an entry a walk found (SCAN) if its time has passed, as Redis's expireIfNeeded does: true when it did.
    /// </summary>
    public bool ExpireIfDue(Entry e, long nowMs)
    {
        if (!e.IsExpiredAt(nowMs))
        {
            return false;
        }

        ExpireNow(e);
        return true;
    }

    private void ExpireNow(Entry e)
    {
        Remove(e);
        _store.Stats.ExpiredKeys++;
    }

    private void SetExpiryIndex(Entry e, long expireAtMs)
    {
        e.ExpireAtMs = expireAtMs;
        if (expireAtMs >= 0 && e.ExpiryIndex < 0)
        {
            if (VolatileCount == _volatile.Length)
            {
                Array.Resize(ref _volatile, _volatile.Length * 2);
            }

            e.ExpiryIndex = VolatileCount;
            _volatile[VolatileCount++] = e;
        }
        else if (expireAtMs < 0 && e.ExpiryIndex >= 0)
        {
            // Swap-remove: the last volatile key takes this one's place.
            var last = _volatile[--VolatileCount];
            _volatile[e.ExpiryIndex] = last;
            last.ExpiryIndex = e.ExpiryIndex;
            _volatile[VolatileCount] = null!;
            e.ExpiryIndex = -1;
        }
    }
}
