using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;

namespace Basalt.Server.Shards;

/// <summary>
/// Coordinates one <see cref="ShardOp"/> from its connection's loop.
/// One shard: the op runs there whole (when that is its own free shard, the connection runs it inline without an OpRun).
/// Several shards: hold each shard in ascending order (so two ops can never wait on each other),
/// run the phases on all of them, reply while still holding them, then release them all.
/// A single-phase op runs on each shard the moment it is held, one round trip per remote shard
/// instead of two; and the last shard releases itself as soon as its part has run. That is still
/// two-phase locking: by then every shard has been held and has run (the growing phase is over), the
/// earlier shards stay held until the reply is written, and an op that needs any of them must wait,
/// because every op takes its shards in the same ascending order. What a shard hands back is a copy,
/// so the reply never reads a shard that is serving others again.
/// While a shard is held, everything else for it waits in its FIFO, so nothing interleaves.
/// A batch of ops from one pipeline (<see cref="StartBatch"/>) is coordinated the same way, as one op over the union of
/// their shards.
/// </summary>
internal sealed class OpRun
{
    private readonly Connection _conn;
    private ShardOp _op = null!;

    // The ops this run coordinates: one, or a batch of single-phase key-scoped ops that came in a row in one pipeline
    // (StartBatch). _op is the first.
    private ShardOp?[] _ops = new ShardOp?[1];
    private int _opCount;

    // A batch's involved shards (the union of its ops', ascending), and a scratch mark per shard to build it.
    private int[] _batchShards = [];
    private bool[] _marked = [];
    private readonly ReplyBudget _budget = new();

    // One step per involved shard, the first StepCount in use; steps are kept and rebound to the next op's shards.
    private OpStep[] _steps = [];

    // Where each op's reply starts in the output, and where the last ends (ReplyAndRecord).
    private int[] _replyStarts = [];

    // The time the run's parts took on its shards, in Stopwatch ticks: what its ops are counted with (ReplyAndRecord).
    // Added to by each shard as its part ends; read by the coordinator once every part has returned.
    private long _partTicks;
    private int _stepCount;
    private int _lockIndex;
    private int _phase;
    private int _pending;

    // Release steps sent and not yet run by their shards: until they have, the steps (and this run, the identity an
    // exclusive hold is taken by) are not the connection's to reuse. Written by the home loop when it sends a release,
    // and by each target as the last thing its release does.
    private int _releasesOut;

    // Calls of Start and OnStepDone under way on the home loop's stack. A step sent to the home shard runs inline, so an
    // op can finish, and its connection go on to its next op, while a call of this run that sent it is still looping
    // over the steps: reused then, the run had that loop send the old op's phase to the new op's steps.
    private int _frames;

    /// <summary>A coordinator for <paramref name="conn"/>'s ops, one at a time; the connection keeps it for the next one (<see cref="Reusable"/>).</summary>
    public OpRun(Connection conn) => _conn = conn;

    /// <summary>
    /// True once no call of this run is on the home loop's stack and every release it sent has run on its shard: the
    /// run may coordinate another op. Read on the home loop only.
    /// </summary>
    public bool Reusable => _frames == 0 && Volatile.Read(ref _releasesOut) == 0;

    public ShardOp Op => _op;

    /// <summary>Whether the run holds keys (every op of a batch does) rather than whole shards.</summary>
    public bool KeyScoped => _op.KeyScoped;

    public ShardLoop Home => _conn.Loop;

    /// <summary>Starts <paramref name="op"/>. Returns true if it already finished (its reply is in the output).</summary>
    public bool Start(ShardOp op)
    {
        _frames++;
        try
        {
            return Begin(op);
        }
        finally
        {
            _frames--;
        }
    }

    public void OnStepDone(OpStep step)
    {
        _frames++;
        try
        {
            StepDone(step);
        }
        finally
        {
            _frames--;
        }
    }

    /// <summary>
    /// Starts <paramref name="ops"/>, two or more ops that came in a row in one pipeline, each single-phase and key-scoped
    /// (<see cref="Batches"/>; the first over several shards, the others over one or more, keyed commands among them as
    /// <see cref="KeyedOp"/>s), as one: each involved shard is held in ascending order for the keys of all of them and runs
    /// their parts there in request order, and the replies are written in that order while every shard is still held.
    /// Each op is then atomic, as alone, and they take effect in the order sent. Never finishes at once.
    /// </summary>
    public void StartBatch(List<ShardOp> ops)
    {
        _frames++;
        try
        {
            BeginBatch(ops);
        }
        finally
        {
            _frames--;
        }
    }

    /// <summary>
    /// Whether <paramref name="op"/> may run in a batch (<see cref="StartBatch"/>): one phase, only its own keys held. A batch
    /// starts with an op over several shards; an op on one shard may join one (<paramref name="joining"/>), since it would
    /// otherwise wait for it.
    /// </summary>
    public static bool Batches(ShardOp op, bool joining) =>
        op.SinglePhase && op.KeyScoped && !op.SequentialShards && op.Shards.Length > (joining ? 0 : 1) && op.EarlyError is null;

    private bool Begin(ShardOp op)
    {
        TakeOps(op, null);
        return BeginOn(op.Shards);
    }

    private void BeginBatch(List<ShardOp> ops)
    {
        TakeOps(ops[0], ops);
        var loops = Home.Server.Loops.Length;
        if (_marked.Length < loops)
        {
            _marked = new bool[loops];
        }

        var count = 0;
        foreach (var op in ops)
        {
            foreach (var shard in op.Shards)
            {
                if (!_marked[shard])
                {
                    _marked[shard] = true;
                    count++;
                }
            }
        }

        if (_batchShards.Length < count)
        {
            _batchShards = new int[loops];
        }

        for (int s = 0, k = 0; k < count; s++)
        {
            if (_marked[s])
            {
                _marked[s] = false;
                _batchShards[k++] = s;
            }
        }

        BeginOn(_batchShards.AsSpan(0, count));
    }

    private void TakeOps(ShardOp first, List<ShardOp>? batch)
    {
        _op = first;
        _opCount = batch?.Count ?? 1;
        if (_ops.Length < _opCount)
        {
            _ops = new ShardOp?[_opCount];
        }

        if (batch is null)
        {
            _ops[0] = first;
        }
        else
        {
            batch.CopyTo(_ops!);
        }

        // The parts the ops build on their shards share what the client may be sent.
        _budget.Reset(_conn.ReplyAllowance());
        for (var i = 0; i < _opCount; i++)
        {
            _ops[i]!.Budget = _budget;
        }
    }

    private bool BeginOn(ReadOnlySpan<int> shards)
    {
        _partTicks = 0;
        _lockIndex = 0;
        _phase = 0;
        _pending = 0;
        if (_steps.Length < shards.Length)
        {
            var grown = new OpStep[shards.Length];
            _steps.CopyTo(grown, 0);
            _steps = grown;
        }

        _stepCount = shards.Length;
        for (var i = 0; i < shards.Length; i++)
        {
            (_steps[i] ??= new OpStep(this)).Bind(shards[i]);
        }

        var op = _op;

        switch (shards.Length)
        {
            case 0:
                ReplyAndRecord();
                LetGoOfOp();
                return true;
            case 1:
                _steps[0].Send(OpStep.StepKind.Whole, 0, _conn.Output.Protocol);
                return false;
            default:
                if (op.SequentialShards)
                {
                    // Phase 0 runs on the first shard alone, held as it runs; later shards are taken only if needed.
                    _steps[0].Send(OpStep.StepKind.HoldAndRun, 0, 0);
                    return false;
                }

                SendHold(0);
                return false;
        }
    }

    /// <summary>
    /// One shard has run its part of the current phase; true for the last, which alone sends its step home, so a phase
    /// over k shards costs the home loop's inbox one message, not k. The decrement orders every shard's results before
    /// the last one's post.
    /// </summary>
    public bool PhaseStepFinished() => Interlocked.Decrement(ref _pending) == 0;

    /// <summary>Adds the time a phase's part took on one shard to the run's. Safe from any shard's thread: the parts of a phase run at once.</summary>
    public void AddPhaseTime(long ticks) => Interlocked.Add(ref _partTicks, ticks);

    private void StepDone(OpStep step)
    {
        switch (step.Kind)
        {
            case OpStep.StepKind.Whole:
                if (step.Reply!.Overflowed)
                {
                    // Its reply would have passed what the client may hold: the client is cut off (OnOpDone).
                    _conn.Output.MarkOverflowed();
                }
                else
                {
                    _conn.TakeOpReply(step.Reply.WrittenSpan);
                }

                step.ReleaseReply();
                LetGoOfOp();
                _conn.OnOpDone();
                break;
            case OpStep.StepKind.Hold:
                if (++_lockIndex < _stepCount)
                {
                    _steps[_lockIndex].Send(OpStep.StepKind.Hold, 0, 0);
                }
                else
                {
                    StartPhase(0);
                }

                break;
            case OpStep.StepKind.HoldAndRun when _op.SequentialShards:
                // Phase _lockIndex ran on the shard just taken: take the next one and run the next phase there, or
                // stop, releasing only the shards taken so far.
                if (_op.Failure is null && _lockIndex + 1 < _stepCount && Home.ContinueOp(_op, _lockIndex))
                {
                    _phase = ++_lockIndex;
                    _steps[_lockIndex].Send(OpStep.StepKind.HoldAndRun, _phase, 0);
                }
                else
                {
                    _stepCount = _lockIndex + 1;
                    Finish();
                }

                break;
            case OpStep.StepKind.HoldAndRun:
            case OpStep.StepKind.RunLast:
                if (++_lockIndex < _stepCount)
                {
                    SendHold(_lockIndex);
                }
                else
                {
                    Finish();
                }

                break;
            case OpStep.StepKind.Phase:
                // Only the last shard to finish the phase sent its step home (PhaseStepFinished). A failed phase ends
                // the op: it is answered with the error and released.
                if (_op.Failure is null && Home.ContinueOp(_op, _phase))
                {
                    StartPhase(_phase + 1);
                }
                else
                {
                    Finish();
                }

                break;
        }
    }

    /// <summary>
    /// Writes the replies and counts the commands on the home loop, each with the time it ran: not the time it waited
    /// for its shards, as Redis counts a command's execution and not its queueing. An op alone is counted with the time
    /// its parts took (<see cref="_partTicks"/>) and its reply took to write. The ops of a batch share those two, the
    /// first by their keys (an op's work on its shards grows with its keys: one of 900 keys among ops of 2 gets nearly
    /// all of it), the second by their replies' bytes. A clock read per op and shard, to time each exactly, cost 3% of
    /// the CPU of pipelined MGETs over two shards; the sums are the same.
    /// </summary>
    private void ReplyAndRecord()
    {
        _conn.BoundOutput();
        var output = _conn.Output;
        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        if (_replyStarts.Length <= _opCount)
        {
            _replyStarts = new int[_ops.Length + 1];
        }

        var keys = 0;
        for (var i = 0; i < _opCount; i++)
        {
            var op = _ops[i]!;
            _replyStarts[i] = output.Length;
            Home.ReplyToOp(op, output);
            if (!op.CountsItself)
            {
                keys += op.KeyCount;
            }
        }

        _replyStarts[_opCount] = output.Length;
        var replyTicks = System.Diagnostics.Stopwatch.GetTimestamp() - start;
        var partTicks = Volatile.Read(ref _partTicks);
        var bytes = _replyStarts[_opCount] - _replyStarts[0];
        var perKey = keys > 0 ? partTicks / (double)keys : 0;
        var perByte = bytes > 0 ? replyTicks / (double)bytes : 0;
        for (var i = 0; i < _opCount; i++)
        {
            var op = _ops[i]!;
            if (!op.CountsItself)
            {
                var ticks = _opCount == 1 ? partTicks + replyTicks
                    : (long)((perKey * op.KeyCount) + (perByte * (_replyStarts[i + 1] - _replyStarts[i])));
                Home.RecordCommand(op.Spec, ticks, output, _replyStarts[i]);
            }
        }
    }

    /// <summary>Adds the lock identity of each key <paramref name="shard"/> owns, of every op of the run, to <paramref name="into"/>.</summary>
    public void KeysOn(int shard, List<ulong> into)
    {
        for (var i = 0; i < _opCount; i++)
        {
            _ops[i]!.KeysOn(shard, into);
        }
    }

    /// <summary>
    /// Runs the part of phase <paramref name="phase"/> each op of the run has on <paramref name="loop"/>'s shard, in request
    /// order, on that shard's thread; an op a part of which failed on an earlier shard is only held and released there.
    /// </summary>
    public void RunParts(ShardLoop loop, int phase)
    {
        // Two clock reads per shard rather than two per op: the time between them is added to the run's (_partTicks) and
        // shared among its ops when they are counted (ReplyAndRecord). A KeyedOp is timed on its own, as a group's
        // command is (ShardLoop.ExecuteKeyedFrom): it starts where the ops before it stopped being timed, and the ops after
        // it start where it ended.
        var clock = System.Diagnostics.Stopwatch.GetTimestamp();
        var now = loop.ClockAt(clock);
        var windowEnd = 0;
        var coveredEnd = 0;
        var timing = false;
        for (var i = 0; i < _opCount; i++)
        {
            var op = _ops[i]!;
            if (_opCount > 1 && Array.IndexOf(op.Shards, loop.Id) < 0)
            {
                continue;
            }

            // An op whose keys the batch's prefetch took (PrefetchParts) doesn't prefetch them again.
            var prefetched = false;
            if (_opCount > 1)
            {
                if (i >= windowEnd)
                {
                    coveredEnd = PrefetchParts(loop, i);
                    windowEnd = Math.Max(coveredEnd, i + 1);
                }

                prefetched = i < coveredEnd;
            }

            op.StampStart(now);
            if (op is KeyedOp keyed)
            {
                if (timing)
                {
                    clock = AddPartTime(clock);
                    timing = false;
                }

                // Counted on this loop as it runs, like a group's command.
                clock = keyed.RunOn(loop, clock);
                continue;
            }

            timing = true;
            if (op.Failure is null)
            {
                loop.RunOpPhase(op, phase, prefetched);
            }
        }

        if (timing)
        {
            AddPartTime(clock);
        }
    }

    /// <summary>
    /// Adds the time since <paramref name="since"/> to the time the run's parts took, and returns the timestamp read. The
    /// parts of a one-phase op or batch run one shard after another, each sent on only once the one before has returned.
    /// </summary>
    private long AddPartTime(long since)
    {
        var end = System.Diagnostics.Stopwatch.GetTimestamp();
        Volatile.Write(ref _partTicks, _partTicks + (end - since));
        return end;
    }

    /// <summary>
    /// Prefetches the keys on <paramref name="loop"/>'s shard of the ops from <paramref name="from"/> on, as many whole
    /// ops of one database as fit in one prefetch batch (<see cref="LookupPrefetch"/>), and returns the index of the
    /// first op it did not cover: <paramref name="from"/> itself when that op's keys alone don't fit. A pipelined MGET
    /// of two keys over two shards has one key on each: alone each lookup would miss in turn, and with the batch's ops
    /// taken together their misses overlap.
    /// </summary>
    private int PrefetchParts(ShardLoop loop, int from)
    {
        var db = _ops[from]!.Db;
        var dbs = loop.Store.Dbs;
        if (db >= dbs.Length)
        {
            return from;
        }

        var prefetch = default(LookupPrefetch);
        var i = from;
        for (; i < _opCount; i++)
        {
            var op = _ops[i]!;
            if (Array.IndexOf(op.Shards, loop.Id) < 0 || op.Failure is not null)
            {
                continue;
            }

            if (op.Db != db || !op.TryAddKeysTo(ref prefetch, loop.Id))
            {
                break;
            }
        }

        prefetch.Run(dbs[db].Table);
        return i;
    }

    private void SendHold(int index)
    {
        var kind = !_op.SinglePhase ? OpStep.StepKind.Hold
            : index == _stepCount - 1 ? OpStep.StepKind.RunLast
            : OpStep.StepKind.HoldAndRun;
        _steps[index].Send(kind, 0, 0);
    }

    private void StartPhase(int phase)
    {
        _phase = phase;
        Volatile.Write(ref _pending, _stepCount);

        // Every shard is held: phase 0 is the op's first part to run, and its clock is the one every phase reads.
        _op.StampStart(Home.ClockNow());
        for (var i = 0; i < _stepCount; i++)
        {
            _steps[i].Send(OpStep.StepKind.Phase, phase, 0);
        }
    }

    private void Finish()
    {
        // Reply while every shard is still held: the reply reflects one atomic point.
        ReplyAndRecord();
        for (var i = 0; i < _stepCount; i++)
        {
            if (_steps[i].Kind != OpStep.StepKind.RunLast)
            {
                Interlocked.Increment(ref _releasesOut);
                _steps[i].Send(OpStep.StepKind.Release, 0, 0);
            }
        }

        // Last: the connection may start its next op here, on this run if every release above already ran.
        LetGoOfOp();
        _conn.OnOpDone();
    }

    /// <summary>
    /// Drops the finished op, which points into the connection's input (its arguments): a run kept for the next op
    /// would otherwise keep a big input buffer alive after the connection gave it back. Every part of it has run and
    /// returned, and the releases still out use only their steps' own copies (key hashes, this run): the connection may
    /// reuse the op at once (<see cref="Connection.OpFinished"/>).
    /// </summary>
    private void LetGoOfOp()
    {
        _op = null!;
        for (var i = 0; i < _opCount; i++)
        {
            var op = _ops[i]!;
            _ops[i] = null;
            op.Budget = null;
            _conn.OpFinished(op);
        }

        _opCount = 0;
    }

    /// <summary>A release has run on its shard. Its step is touched no more after this.</summary>
    public void ReleaseDone() => Interlocked.Decrement(ref _releasesOut);
}

/// <summary>One message of an <see cref="OpRun"/> to one shard: hold it, run a phase, run the whole op, or release it.</summary>
internal sealed class OpStep(OpRun run) : ShardWork
{
    private int _shard;

    /// <summary>Points this step at <paramref name="shard"/> for its run's next op; only while no message of it is out.</summary>
    public void Bind(int shard) => _shard = shard;

    public enum StepKind
    {
        Hold,
        HoldAndRun,

        /// <summary>The last shard of a single-phase op: wait for the shard, run, and release at once.</summary>
        RunLast,
        Phase,
        Whole,
        Release,
    }

    public StepKind Kind { get; private set; }

    public ReplyBuffer? Reply { get; private set; }

    // A Whole step's reply buffer up to this size stays with the step for its run's next op; a bigger one goes back.
    private const int KeptReply = 1024;

    /// <summary>
    /// Done with a Whole step's reply, once its bytes are copied out: a small buffer is kept for the step's next Whole
    /// op, a bigger one given back to the pool it was rented from.
    /// </summary>
    public void ReleaseReply()
    {
        if (Reply is { Capacity: > KeptReply } big)
        {
            big.Dispose();
            _keptReply = null;
        }

        Reply = null;
    }

    // The lock identities of the op's keys on this shard, for a key-scoped op; computed on the home
    // loop when the step is sent (the request bytes are still there), kept for the release.
    private readonly List<ulong> _keyHashes = [];
    private ReplyBuffer? _keptReply;

    // A key list longer than this is given back once its step is done with it (DoneWithKeys): the connection keeps its
    // runs, and one huge op must not leave them holding 8 bytes a key.
    private const int KeptKeys = 1024;
    private int _phase;
    private bool _returning;

    // The op's KeyScoped, read when the step is sent: a release runs after its run has let go of the op.
    private bool _keyScoped;

    private bool KeyScoped => _keyScoped;

    public void Send(StepKind kind, int phase, int protocol)
    {
        if (kind != StepKind.Release)
        {
            _keyScoped = run.KeyScoped;
        }

        Kind = kind;
        _phase = phase;
        _returning = false;
        if (kind == StepKind.Whole)
        {
            var reply = _keptReply ??= new ReplyBuffer(256);
            reply.Clear();
            reply.Protocol = protocol;
            reply.Limit = run.Op.ReplyLimit;
            Reply = reply;
        }

        if (TakesKeys(kind))
        {
            _keyHashes.Clear();
            run.KeysOn(_shard, _keyHashes);
        }

        var target = run.Home.Server.Loops[_shard];
        if (kind == StepKind.Release && !target.OnLoopThread)
        {
            // Nothing waits on a release but work queued behind the hold: the target wakes for it only then.
            target.PostRelease(this);
            return;
        }

        target.PostOrRun(this);
    }

    /// <summary>
    /// Completions, and the holder's own phases and releases, never wait behind the hold they belong to.
    /// A phase is only ever sent once the op holds every shard involved: whole, or its keys there.
    /// </summary>
    public override bool BypassesHold(ShardLoop loop) =>
        _returning || Kind == StepKind.Release || (Kind == StepKind.Phase && (KeyScoped || ReferenceEquals(loop.Locks.Exclusive, run)));

    public override bool Admissible(ShardLoop loop) =>
        TakesKeys(Kind) ? loop.Locks.KeysFree(_keyHashes) : !loop.Locks.Any;

    /// <summary>Steps that take (or, for RunLast and Whole, need free) the op's keys on this shard rather than the whole shard.</summary>
    private bool TakesKeys(StepKind kind) => KeyScoped && kind is StepKind.Hold or StepKind.HoldAndRun or StepKind.RunLast or StepKind.Whole;

    public override void Execute(ShardLoop loop)
    {
        if (_returning)
        {
            _returning = false;
            run.OnStepDone(this);
            return;
        }

        switch (Kind)
        {
            case StepKind.Hold:
                if (KeyScoped)
                {
                    loop.Locks.TakeKeys(_keyHashes);
                }
                else
                {
                    loop.Locks.TakeExclusive(run);
                }

                break;
            case StepKind.HoldAndRun:
                if (KeyScoped)
                {
                    loop.Locks.TakeKeys(_keyHashes);
                }
                else
                {
                    loop.Locks.TakeExclusive(run);
                }

                run.RunParts(loop, _phase);
                break;
            case StepKind.RunLast:
                // Admitted only when nothing it needs is held, and it runs to the end on this thread:
                // there is nothing to hold past this step.
                run.RunParts(loop, _phase);
                break;
            case StepKind.Phase:
                var start = System.Diagnostics.Stopwatch.GetTimestamp();
                loop.RunOpPhase(run.Op, _phase);
                run.AddPhaseTime(System.Diagnostics.Stopwatch.GetTimestamp() - start);
                if (!run.PhaseStepFinished())
                {
                    return;
                }

                break;
            case StepKind.Whole:
                loop.RunWholeOp(run.Op, Reply!);
                break;
            case StepKind.Release:
                if (KeyScoped)
                {
                    loop.Locks.ReleaseKeys(_keyHashes);
                }
                else
                {
                    loop.Locks.ReleaseExclusive(run);
                }

                DoneWithKeys();
                run.ReleaseDone();
                return;
        }

        // RunLast and Whole held nothing past this step: their keys were needed only to be admitted.
        if (Kind is StepKind.RunLast or StepKind.Whole)
        {
            DoneWithKeys();
        }

        _returning = true;
        run.Home.PostOrRun(this);
    }

    /// <summary>Gives back a long key list once no one reads it again before the step's next Send (<see cref="KeptKeys"/>).</summary>
    private void DoneWithKeys()
    {
        if (_keyHashes.Capacity > KeptKeys)
        {
            _keyHashes.Clear();
            _keyHashes.Capacity = 0;
        }
    }
}
