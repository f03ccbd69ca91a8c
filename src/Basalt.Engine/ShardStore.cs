using Basalt.Engine.Keyspace;
using Basalt.Protocol;

namespace Basalt.Engine;

/// <summary>Counters a shard keeps about its keyspace; read by INFO through a shard hop.</summary>
public sealed class ShardStats
{
    public long ExpiredKeys { get; set; }

    public long KeyspaceHits { get; set; }

    public long KeyspaceMisses { get; set; }

    /// <summary>Counts a read lookup's result as a keyspace hit or miss.</summary>
    public void CountRead(Keyspace.Entry? e)
    {
        if (e is null)
        {
            KeyspaceMisses++;
        }
        else
        {
            KeyspaceHits++;
        }
    }

    public void Reset()
    {
        ExpiredKeys = 0;
        KeyspaceHits = 0;
        KeyspaceMisses = 0;
    }
}

/// <summary>
/// Everything one shard owns: its databases, counters and effect sink. Touched only by the shard's
/// own loop thread (invariant 1): no method here takes a lock.
/// </summary>
public sealed class ShardStore
{
    public const int DefaultDatabases = 16;
    private readonly long _clockOriginMs = Environment.TickCount64;

    public ShardStore(int shardId, int databases = DefaultDatabases, IEffectSink? effects = null)
    {
        ShardId = shardId;
        Effects = effects ?? NullEffectSink.Instance;
        Dbs = new Database[databases];
        for (var i = 0; i < databases; i++)
        {
            Dbs[i] = new Database(this, i);
        }
    }

    public int ShardId { get; }

    public Database[] Dbs { get; }

    public IEffectSink Effects { get; set; }

    public ShardStats Stats { get; } = new();

    /// <summary>
    /// The server's protocol limits, shared by every shard: proto-max-bulk-len also caps the strings APPEND and
    /// SETRANGE build, as in Redis. CONFIG SET changes it from another thread; a stale read for one command is harmless.
    /// </summary>
    public ProtocolLimits Limits { get; set; } = ProtocolLimits.Default;

    public Random Rng { get; } = new();

    /// <summary>Dropped bytes are reported to <see cref="Reclaim"/> in chunks of at least this much.</summary>
    public const long DropReportChunk = 1L << 20;

    private long _dropped;

    /// <summary>
    /// Told, on the shard's thread, of the values this shard drops (deleted, expired, overwritten, outgrown by APPEND)
    /// in chunks of <see cref="DropReportChunk"/>, and of databases with keys flushed. The server answers with a
    /// garbage collection once enough is dropped and the drops stop (<c>MemoryReclaimer</c>): dropped values are garbage on the managed
    /// heap, which INFO used_memory counts, and which an idle server would otherwise keep, since nothing else collects it.
    /// </summary>
    public IReclaimSink? Reclaim { get; set; }

    /// <summary>
    /// Counts <paramref name="bytes"/> of values dropped, or of the shard's loop's big managed buffers given back (a
    /// connection's input past 1 MB); see <see cref="Reclaim"/>.
    /// </summary>
    public void Dropped(long bytes)
    {
        _dropped += bytes;
        if (_dropped >= DropReportChunk)
        {
            Reclaim?.Dropped(_dropped);
            _dropped = 0;
        }
    }

    /// <summary>
    /// A database of <paramref name="keys"/> keys is being emptied at once (FLUSHDB, FLUSHALL): its values are all
    /// garbage. Called before the table is dropped, so the shard's count still includes them.
    /// </summary>
    public void Flushed(long keys)
    {
        if (Reclaim is { } sink)
        {
            long shardKeys = 0;
            foreach (var db in Dbs)
            {
                shardKeys += db.Count;
            }

            sink.Flushed(keys, shardKeys);
        }
    }

    /// <summary>Set for the duration of a command from a client in CLIENT NO-TOUCH mode.</summary>
    public bool NoTouch { get; set; }

    /// <summary>Seconds since the store was made: the clock OBJECT IDLETIME measures against.</summary>
    public long LruClockSec => (Environment.TickCount64 - _clockOriginMs) / 1000;

    public int VolatileKeys
    {
        get
        {
            var n = 0;
            foreach (var db in Dbs)
            {
                n += db.VolatileCount;
            }

            return n;
        }
    }

    public void SwapDb(int a, int b)
    {
        Dbs[a].SwapContents(Dbs[b]);
        Effects.Emit(EffectKind.SwapDb, a, default, default, b);
    }

    /// <summary>
    /// One bounded slice of active expiry, Redis-style: sample 20 volatile keys per db, repeat while
    /// more than a quarter of the sample had expired, stop at the time budget.
    /// Returns true if it stopped on the budget with work left (the loop schedules another slice soon). A key that
    /// <paramref name="guard"/> says is held (by a multi-shard op, between its phases) is left for later.
    /// </summary>
    public bool ActiveExpire(long nowMs, TimeSpan budget, IExpiryGuard? guard = null)
    {
        const int Samples = 20;
        // The monotonic tick count is coarse (4 ms steps here): a 1 ms budget needs the fine clock.
        var deadline = System.Diagnostics.Stopwatch.GetTimestamp() + (long)(budget.TotalSeconds * System.Diagnostics.Stopwatch.Frequency);
        foreach (var db in Dbs)
        {
            while (db.VolatileCount > 0)
            {
                var removed = db.ExpireSample(nowMs, Samples, Rng, guard);
                if (removed <= Samples / 4)
                {
                    break;
                }

                if (System.Diagnostics.Stopwatch.GetTimestamp() >= deadline)
                {
                    return true;
                }
            }
        }

        return false;
    }
}

/// <summary>Where a shard reports the memory it drops (<see cref="ShardStore.Reclaim"/>). Called on the shard's thread; must return at once.</summary>
public interface IReclaimSink
{
    void Dropped(long bytes);

    /// <summary>A database of <paramref name="keys"/> keys, out of the <paramref name="shardKeys"/> the shard holds, was emptied.</summary>
    void Flushed(long keys, long shardKeys);
}
