using Basalt.Protocol;

namespace Basalt.Engine.Commands;

/// <summary>
/// A command whose keys may live on several shards, written as phases. Each phase runs on every
/// involved shard's own thread (<see cref="Run"/> touches only that shard's keys), and between
/// phases the coordinator decides whether to go on. The server holds every involved shard for
/// the whole op, so no other command interleaves: the op is atomic. A command author writes
/// phases and never sees a hop.
/// Thread rule: during a phase, each shard writes only the result slots of its own keys or its
/// own shard index; the coordinator reads them after the phase's completions arrive.
/// </summary>
public abstract class ShardOp
{
    // Each routed key's shard; ushort, since --shards goes up to 1024 (a byte once sent keys of shard 277 to shard 21).
    // Null while every routed key is on one shard (Shards[0]), the common case, which then allocates no table.
    private ushort[]? _keyShard;

    // The table _keyShard last was, and the involved-shards array this op last made: kept for a reuse (Reuse).
    private ushort[]? _keyShardTable;
    private int[]? _ownShards;

    // Each routed key's hash (KeyHash), by argument index: computed once as the op is routed, on the coordinator before
    // any shard sees the op, then only read, by the key holds, the prefetch and the lookups (KeyHashOf).
    private ulong[]? _keyHash;

    // The shards the router found for this command's keys (OpRequest.KeyShards): read by RouteKeys, then let go.
    private KeyShardMemo? _knownShards;
    private bool _routed;
    private int _keyFirst;
    private int _keyStep;
    private int _keyLast;

    protected ShardOp(in OpRequest request)
    {
        Take(request);
        Shards = [];
    }

    /// <summary>Whether the op's lookups leave access times alone (CLIENT NO-TOUCH); the loop sets the store's flag from it.</summary>
    public bool NoTouch { get; protected set; }

    public ArgView Args { get; private set; }

    public int Db { get; private set; }

    /// <summary>
    /// True for an op a finished one can be made into for its command's next call (<see cref="Reuse"/>), so a connection
    /// keeps its last one (MGET, MSET, DEL… run without allocating). False for the rest, which are made anew.
    /// </summary>
    public virtual bool Reusable => false;

    /// <summary>
    /// Makes this finished op the op of <paramref name="request"/>, a call of the same command, as if newly made. Only
    /// once no shard touches it any more: the caller holds it alone. Only for a <see cref="Reusable"/> op.
    /// </summary>
    public void Reuse(in OpRequest request)
    {
        if (!Reusable || !ReusableFor(request.Spec))
        {
            throw new InvalidOperationException($"a {Spec.Name} op can't be reused for {request.Spec.Name}");
        }

        Take(request);
        _started = false;
        _failure = null;
        EarlyError = null;
        _routed = false;
        _keyShard = null;
        Shards = [];
        Prepare();
    }

    /// <summary>
    /// Lets go of what a finished op points into, kept for a <see cref="Reuse"/>: its arguments, in the connection's
    /// input buffer, and what its kind keeps of the keyspace (<see cref="Retiring"/>). A kept op must not keep a big
    /// input buffer, or a deleted value, alive.
    /// </summary>
    public void Retire()
    {
        Args = default;
        _knownShards = null;
        Budget = null;
        _keyShard = null;
        Shed(ref _keyShardTable);
        if (_keyHash is { Length: > KeptLength })
        {
            _keyHash = null;
        }

        Retiring();
    }

    /// <summary>Whether this op, finished, may be made into a call of <paramref name="spec"/>: by default, of its own command only.</summary>
    protected virtual bool ReusableFor(CommandSpec spec) => ReferenceEquals(spec, Spec);

    /// <summary>
    /// True for an op whose shard counts it as it runs it (INFO commandstats, the latency histogram), as a keyed
    /// command is counted: its coordinator doesn't count it again when it replies.
    /// </summary>
    public virtual bool CountsItself => false;

    /// <summary>A <see cref="Reusable"/> op's set-up from its request, as its constructor does it: called by <see cref="Reuse"/>.</summary>
    protected virtual void Prepare() => throw new NotSupportedException($"{Spec.Name} ops are not reused");

    /// <summary>
    /// Gives back what a retired op keeps for a reuse (pooled buffers), when it is dropped rather than reused: its
    /// connection closed, or kept it unused for a while.
    /// </summary>
    public virtual void Discard()
    {
    }

    /// <summary>Drops a finished op's references into the keyspace (<see cref="Retire"/>).</summary>
    protected virtual void Retiring()
    {
    }

    /// <summary>The longest table a finished op keeps for a reuse: one huge call must not leave a connection holding its tables.</summary>
    protected const int KeptLength = 1024;

    /// <summary>An array of at least <paramref name="length"/> items, all cleared: <paramref name="kept"/> when it is long enough.</summary>
    protected static T[] Cleared<T>(ref T[]? kept, int length)
    {
        if (kept is null || kept.Length < length)
        {
            kept = new T[length];
        }
        else
        {
            Array.Clear(kept);
        }

        return kept;
    }

    /// <summary>Clears an array kept for a reuse, or lets it go when it is longer than <see cref="KeptLength"/>.</summary>
    protected static void Shed<T>(ref T[]? kept)
    {
        if (kept is { } array)
        {
            if (array.Length > KeptLength)
            {
                kept = null;
            }
            else
            {
                Array.Clear(array);
            }
        }
    }

    [System.Diagnostics.CodeAnalysis.MemberNotNull(nameof(Slots), nameof(Spec))]
    private void Take(in OpRequest request)
    {
        Args = request.Args;
        _knownShards = request.KeyShards;
        Db = request.Db;
        NowMs = request.NowMs;
        Slots = request.Slots;
        Spec = request.Spec;
        DatabaseCount = request.DatabaseCount;
        NoTouch = request.NoTouch;
        ReplyLimit = request.ReplyLimit > 0 ? request.ReplyLimit : int.MaxValue;
    }

    /// <summary>The most bytes a buffer the op builds its reply in may hold (<see cref="OpRequest.ReplyLimit"/>).</summary>
    public int ReplyLimit { get; private set; }

    /// <summary>
    /// Shared by the ops of one coordinator: what parts of their replies built on the shards may add up to. Set by the
    /// coordinator before any part runs; null for an op its connection runs inline on its own shard, which writes its
    /// reply straight into the bounded output.
    /// </summary>
    public ReplyBudget? Budget { get; set; }

    /// <summary>
    /// The wall clock (unix ms) the op reads, once for all its parts, as Redis reads it once per command: taken when the
    /// op is made, then again when its first part runs (<see cref="StampStart"/>), so an op that waited behind a busy
    /// shard doesn't judge expiry by the time it was queued, and every shard and phase judges it by the same instant
    /// (a key found in one phase is still there in the next).
    /// </summary>
    public long NowMs { get; private set; }

    private bool _started;

    /// <summary>
    /// Sets the op's clock as its first part is about to run; later calls change nothing. Called by whichever loop
    /// runs a part first, before any other part can run: a single-shard op's shard, the first shard of a one-phase op
    /// as it is held, or the coordinator before it sends phase 0 to every held shard.
    /// </summary>
    public void StampStart(long nowMs)
    {
        if (!_started)
        {
            _started = true;
            NowMs = Math.Max(NowMs, nowMs);
        }
    }

    public SlotMap Slots { get; private set; }

    public CommandSpec Spec { get; private set; }

    public int DatabaseCount { get; private set; }

    /// <summary>
    /// Involved shards, ascending: the order the server acquires them in. Never written while the op runs: it may be an
    /// array the slot map shares. An array of the op's own is written again only by a <see cref="Reuse"/>.
    /// </summary>
    public int[] Shards { get; protected set; }

    /// <summary>An error found while building the op (bad syntax); replied without touching any shard.</summary>
    public string? EarlyError { get; protected set; }

    private Exception? _failure;

    /// <summary>
    /// The first exception a part of the op threw, on any shard: the op is then answered with an internal error rather
    /// than its reply, and its shards are released as usual.
    /// </summary>
    public Exception? Failure => Volatile.Read(ref _failure);

    /// <summary>Records a part's exception; the first one is kept. Safe from any shard's thread.</summary>
    public void Fail(Exception ex) => Interlocked.CompareExchange(ref _failure, ex, null);

    /// <summary>Runs phase <paramref name="phase"/> on one involved shard, on that shard's thread.</summary>
    public abstract void Run(ShardStore store, int phase);

    /// <summary>
    /// True when the op has exactly one phase. The server may then run it on each shard as soon as
    /// that shard is held (strict two-phase locking in ascending shard order), which saves a round trip.
    /// </summary>
    public virtual bool SinglePhase => false;

    /// <summary>
    /// True when phase <c>p</c> runs on <c>Shards[p]</c> alone and the op may stop after any phase (SCAN, which walks
    /// shards in order until its COUNT is met). The server then takes the shards one by one, in ascending order, each
    /// just before its phase, and never takes those after the phase the op stopped at: a SCAN answered from its
    /// cursor's shard holds that shard only. Earlier shards stay held until the reply is written, as in any op.
    /// </summary>
    public virtual bool SequentialShards => false;

    /// <summary>
    /// True when the op reads and writes only its routed keys, in the op's database, in every phase. A
    /// shard then holds just those keys for it (see <see cref="KeysOn"/>) until the op ends, and commands
    /// on other keys keep running there. An op that looks at the whole keyspace holds whole shards.
    /// </summary>
    public virtual bool KeyScoped => false;

    /// <summary>Adds the hash of each of this op's keys that <paramref name="shard"/> owns (db included) to <paramref name="into"/>.</summary>
    public void KeysOn(int shard, List<ulong> into)
    {
        if (!_routed)
        {
            return;
        }

        for (var i = _keyFirst; i <= _keyLast; i += _keyStep)
        {
            if (ShardOf(i) == shard)
            {
                into.Add(LockHash(Db, _keyHash![i]));
            }
        }
    }

    /// <summary>How many keys the op names: 1 for an op without routed keys or with none.</summary>
    public int KeyCount => _routed && _keyLast >= _keyFirst ? ((_keyLast - _keyFirst) / _keyStep) + 1 : 1;

    /// <summary>
    /// Prefetches the lookups of this op's keys that <paramref name="store"/>'s shard owns, so that a multi-key op's
    /// cache misses overlap instead of coming one after another (<see cref="Keyspace.LookupPrefetch"/>). Touches no
    /// state: an op without routed keys, or with one key here, does nothing.
    /// </summary>
    public void PrefetchKeys(ShardStore store)
    {
        if (!_routed || Db >= store.Dbs.Length)
        {
            return;
        }

        // One key here has nothing to overlap with: counted first, so its hash isn't computed for nothing.
        var here = 0;
        for (var i = _keyFirst; i <= _keyLast && here < 2; i += _keyStep)
        {
            if (ShardOf(i) == store.ShardId)
            {
                here++;
            }
        }

        if (here < 2)
        {
            return;
        }

        var table = store.Dbs[Db].Table;
        var prefetch = default(Keyspace.LookupPrefetch);
        for (var i = _keyFirst; i <= _keyLast; i += _keyStep)
        {
            if (ShardOf(i) == store.ShardId)
            {
                prefetch.Add(_keyHash![i]);
                if (prefetch.IsFull)
                {
                    prefetch.Run(table);
                }
            }
        }

        prefetch.Run(table);
    }

    /// <summary>
    /// Adds this op's keys on <paramref name="shardId"/> to a batch's prefetch when all of them fit in the room it has
    /// left, so that the lookups of a batch of small ops overlap too (one key per op has nothing to overlap with on its
    /// own). False, adding nothing, when they don't fit: the op then prefetches its own keys when it runs.
    /// </summary>
    public bool TryAddKeysTo(ref Keyspace.LookupPrefetch prefetch, int shardId)
    {
        if (!_routed)
        {
            return true;
        }

        var count = 0;
        for (var i = _keyFirst; i <= _keyLast; i += _keyStep)
        {
            if (ShardOf(i) == shardId)
            {
                count++;
            }
        }

        if (count > prefetch.Room)
        {
            return false;
        }

        for (var i = _keyFirst; i <= _keyLast; i += _keyStep)
        {
            if (ShardOf(i) == shardId)
            {
                prefetch.Add(_keyHash![i]);
            }
        }

        return true;
    }

    /// <summary>The identity a shard locks a key by: a seeded hash of db and key. Two keys that collide only wait for each other.</summary>
    public static ulong LockHash(int db, ReadOnlySpan<byte> key) => LockHash(db, KeyHash.Of(key));

    /// <summary>The same, from the key's <see cref="KeyHash"/>.</summary>
    public static ulong LockHash(int db, ulong keyHash) => keyHash ^ ((ulong)(uint)db * 0x9E3779B97F4A7C15);

    /// <summary>On the coordinator, after <paramref name="phase"/> ran on every shard: true to run the next one.</summary>
    public virtual bool Continue(int phase) => false;

    public abstract void Reply(ReplyBuffer reply);

    /// <summary>
    /// Gives back what the op holds for its reply (buffers built on its shards), once the reply was written or the op
    /// failed. Called once, on the coordinator.
    /// </summary>
    public virtual void Release()
    {
    }

    /// <summary>
    /// Routes args first, first+step, … as keys and sets <see cref="Shards"/>. Keys all on one shard (every key with one
    /// shard, and most ops at 1 shard) allocate nothing here: <see cref="Shards"/> is then the slot map's shared
    /// one-shard array.
    /// </summary>
    protected void RouteKeys(int first, int step, int last = -1)
    {
        if (last < 0)
        {
            last = Args.Count - 1;
        }

        // Shards the router found for these very keys are taken as they are; otherwise each key's slot is computed here.
        var known = _knownShards is { } memo && memo.Covers(first, step, last) ? memo : null;
        _knownShards = null;
        _routed = true;
        _keyFirst = first;
        _keyStep = step;
        _keyLast = last;
        if (first > last)
        {
            Shards = [];
            return;
        }

        var hashes = _keyHash is { } keptHashes && keptHashes.Length >= Args.Count ? keptHashes : new ulong[Args.Count];
        _keyHash = hashes;
        for (var k = first; k <= last; k += step)
        {
            hashes[k] = KeyHash.Of(Args[k]);
        }

        var only = known is null ? Slots.ShardOf(Args[first]) : known[first];
        var i = first + step;
        while (i <= last && (known is null ? Slots.ShardOf(Args[i]) : known[i]) == only)
        {
            i += step;
        }

        if (i > last)
        {
            Shards = Slots.OneShard(only);
            return;
        }

        _keyShard = _keyShardTable is { } kept && kept.Length >= Args.Count ? kept : new ushort[Args.Count];
        _keyShardTable = _keyShard;
        Span<bool> seen = stackalloc bool[Slots.ShardCount];
        seen[only] = true;
        var distinct = 1;
        for (var k = first; k < i; k += step)
        {
            _keyShard[k] = (ushort)only;
        }

        for (; i <= last; i += step)
        {
            var s = known is null ? Slots.ShardOf(Args[i]) : known[i];
            _keyShard[i] = (ushort)s;
            if (!seen[s])
            {
                seen[s] = true;
                distinct++;
            }
        }

        // This op's own array, never one the slot map shares, so a reuse may write it again.
        var shards = _ownShards is { } own && own.Length == distinct ? own : new int[distinct];
        _ownShards = shards;
        var n = 0;
        for (var s = 0; s < seen.Length; s++)
        {
            if (seen[s])
            {
                shards[n++] = s;
            }
        }

        Shards = shards;
    }

    /// <summary>Involves every shard (global commands).</summary>
    protected void RouteAll()
    {
        var shards = new int[Slots.ShardCount];
        for (var i = 0; i < shards.Length; i++)
        {
            shards[i] = i;
        }

        Shards = shards;
    }

    /// <summary>True when argument <paramref name="argIndex"/> is a key owned by <paramref name="store"/>.</summary>
    protected bool Owns(ShardStore store, int argIndex) => ShardOf(argIndex) == store.ShardId;

    /// <summary>The hash (<see cref="KeyHash"/>) of routed key argument <paramref name="argIndex"/>, computed once as the op was routed.</summary>
    protected ulong KeyHashOf(int argIndex) => _keyHash![argIndex];

    /// <summary>The shard that owns key argument <paramref name="argIndex"/>.</summary>
    protected int ShardOf(int argIndex) => _keyShard is null ? Shards[0] : _keyShard[argIndex];
}
