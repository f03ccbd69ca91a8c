using System.Diagnostics;
using System.Diagnostics.Metrics;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Server.Net;
using Basalt.Server.Observability;

namespace Basalt.Server.Shards;

/// <summary>
/// One shard: a dedicated thread that owns the shard's keyspace, its connections and an epoll
/// reactor. It blocks in epoll_wait until a socket is ready, its eventfd is written by a producer
/// that posted to its inbox, or its next timer is due. Nothing else touches its data (invariant 1);
/// there is no sleep or polling tick (invariant 3).
/// </summary>
internal sealed unsafe class ShardLoop : IDisposable
{
    private const int MaxEvents = 256;
    private const int InboxDrainCap = 4096;

    // The idle-client check runs at most this often, however the clients' deadlines are spread (see CloseIdleClients).
    private const int MinIdleCheckGapMs = 100;

    // The furthest a connection deadline is set (100 years): no caller's arithmetic can wrap one into the past.
    private const long MaxDeadlineMs = 100L * 365 * 24 * 3600 * 1000;

    private const uint ReadEvents = Native.EPOLLIN | Native.EPOLLRDHUP | Native.EPOLLET;

    private readonly MpscQueue<ShardWork> _inbox;

    // Handed-off groups whose replies the target already sent: returned without a wake (PostQuiet).
    private readonly MpscQueue<ShardWork> _quietInbox;
    private readonly Queue<ShardWork> _held = new();
    private readonly List<Connection?> _connections = [];

    // Connections that stopped pumping with input still unread (Connection.MaxReadsPerPump): pumped again next turn,
    // which then doesn't park. Each is listed once (QueuedToRunAgain), so the lists hold at most the loop's clients.
    private List<Connection> _runAgain = [];
    private List<Connection> _runningAgain = [];

    // Per-connection deadlines, at most one of each kind per connection at a time: a soft output limit to check again,
    // the end of a lingering close, big buffers to give back once unused for a while.
    private readonly ConnectionDeadlines<Connection> _connectionTimers = new(static c => c.Closed);

    // When to look for clients idle past the timeout setting (Environment.TickCount64); 0 when no check is armed.
    private long _nextIdleCheckAt;

    // Requests from other threads that coalesce to one inbox message each (RequestGaugesAsync, RequestIdleRecheck).
    private TaskCompletionSource? _gaugesPending;
    private int _idleRecheckPosted;
    private readonly Stack<int> _freeSlots = new();

    // Slots of connections closed this turn: free from the next turn on. An epoll event of this turn's batch may still
    // name one (its connection closed while earlier events were handled); it must find no connection there, not a new
    // one adopted by an inbox message taken between events.
    private readonly List<int> _slotsFreedThisTurn = [];
    private readonly Thread _thread;
    private readonly int _epfd;
    private readonly int _eventFd;
    [ThreadStatic]
    private static ShardLoop? t_current;

    private readonly Histogram<double> _commandDuration;

    // Loops this loop posted to during the current turn while they were parked: woken once, before this loop parks.
    private readonly bool[] _wakePending;
    private readonly int[] _wakeList;
    private int _wakeCount;

    // When the first wake of this turn's was deferred (Stopwatch ticks); see FlushWakesIfLate.
    private long _wakesDeferredSince;
    private const int MaxWakeDeferUs = 200;
    private static readonly long MaxWakeDeferTicks = Stopwatch.Frequency * MaxWakeDeferUs / 1_000_000;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private int _sleeping;

    // 1 while work waits in _held: published before each park so PostRelease knows whether a release is urgent.
    private int _heldWaiting;
    private volatile bool _draining;
    private volatile bool _stopping;
    private long _nextExpireAt;
    private long _eventFdWakes;

    public ShardLoop(BasaltServer server, int id)
    {
        Server = server;
        Id = id;
        Store = new ShardStore(id, server.Options.Databases) { Limits = server.Limits, Reclaim = server.Reclaimer };
        Stats = new LoopStats(server.Commands.AllById.Count);
        Gauges = new ShardGauges(server.Options.Databases);
        _commandDuration = server.Metrics.CommandDuration;
        _inbox = new MpscQueue<ShardWork>(Math.Max(1024, server.Options.MaxClients * 4));
        // Per client at most one handed-off group (to its own loop) or one release (to another loop), plus one more release
        // for each message of its that one inbox pass takes, at most InboxDrainCap in all (DrainInbox); doubled for margin.
        _quietInbox = new MpscQueue<ShardWork>(Math.Max(1024, server.Options.MaxClients * 2) + InboxDrainCap);
        _wakePending = new bool[server.Loops.Length];
        _wakeList = new int[server.Loops.Length];
        _epfd = Native.epoll_create1(Native.EPOLL_CLOEXEC);
        _eventFd = Native.eventfd(0, Native.EFD_NONBLOCK | Native.EFD_CLOEXEC);
        if (_epfd < 0 || _eventFd < 0)
        {
            throw new InvalidOperationException($"epoll/eventfd setup failed: errno {Marshal.GetLastPInvokeError()}");
        }

        // Edge-triggered: every write raises an edge, so a wake needs no read() to re-arm. The counter is
        // drained now and then (DrainEventFd) so it can never approach its 2^64-2 ceiling.
        var ev = new Native.EpollEvent { Events = Native.EPOLLIN | Native.EPOLLET, Data = 0 };
        if (Native.epoll_ctl(_epfd, Native.EPOLL_CTL_ADD, _eventFd, ref ev) != 0)
        {
            throw new InvalidOperationException($"epoll_ctl(eventfd) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _thread = new Thread(Run) { IsBackground = true, Name = $"basalt-shard-{id}" };
    }

    public BasaltServer Server { get; }

    public int Id { get; }

    public ShardStore Store { get; }

    public LoopStats Stats { get; }

    /// <summary>Key counts this loop last published for /metrics (see PublishGauges).</summary>
    public ShardGauges Gauges { get; }

    /// <summary>True while the loop is blocked in epoll_wait: idle, not wedged.</summary>
    public bool IsParked => Volatile.Read(ref Stats.Parked) != 0;

    public bool IsRunning => _thread.IsAlive;

    /// <summary>No message waits in the inbox; /healthz reads it from another thread (see LostWakeupWatch).</summary>
    public bool InboxEmpty => _inbox.IsEmpty;

    /// <summary>Set during a graceful stop: each connection is closed as soon as it has nothing in flight.</summary>
    public bool Draining => _draining;

    /// <summary>Which ops hold this shard (whole, or some of its keys) for a multi-shard op.</summary>
    public ShardLocks Locks { get; } = new();

    /// <summary>Nothing waits for this shard and nothing holds it.</summary>
    public bool IsFree => _held.Count == 0 && !Locks.Any;

    public bool OnLoopThread => Thread.CurrentThread == _thread;

    /// <summary>The wall clock (unix ms) read at the start of this turn, and again after the park.</summary>
    public long NowMs { get; private set; } = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    // The monotonic timestamp taken with NowMs: ClockAt adds the time since, so a command late in a long turn (after
    // a DEBUG SLEEP or a big LCS in the same pipeline) reads the time it runs at, as Redis reads it per command.
    private long _nowTs = Stopwatch.GetTimestamp();

    /// <summary>The wall clock (unix ms) at monotonic timestamp <paramref name="ts"/>, taken during this turn.</summary>
    public long ClockAt(long ts) => NowMs + ((ts - _nowTs) * 1000 / Stopwatch.Frequency);

    /// <summary>The wall clock (unix ms) now, for a command about to run.</summary>
    public long ClockNow() => ClockAt(Stopwatch.GetTimestamp());

    private void ReadClock()
    {
        NowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        _nowTs = Stopwatch.GetTimestamp();
    }

    /// <summary>Environment.TickCount64 at the last turn; /healthz reads it from another thread.</summary>
    public long LastTurnTicks => Volatile.Read(ref Stats.LastTurnTicks);

    /// <summary>This loop's clients, as CLIENT LIST and CLIENT KILL see them: a connection in a lingering close is none.</summary>
    public IEnumerable<Connection> Connections
    {
        get
        {
            foreach (var c in _connections)
            {
                if (c is { Lingering: false })
                {
                    yield return c;
                }
            }
        }
    }

    public void Start() => _thread.Start();

    /// <summary>Starts the drain of a graceful stop; the task completes when no connection has work in flight.</summary>
    public Task DrainAsync()
    {
        Post(new LoopAction(static l =>
        {
            l._draining = true;

            // Pairs with PostQuiet: a group returned from now on wakes us; one returned before is taken at the park.
            Interlocked.MemoryBarrier();
            l.CheckDrained();
        }));
#pragma warning disable VSTHRD003 // A TaskCompletionSource with asynchronous continuations; there is no SynchronizationContext to deadlock.
        return _drained.Task;
#pragma warning restore VSTHRD003
    }

    /// <summary>
    /// Asks this loop to publish its key counts; the task completes once it has. Requests coalesce: while one is in
    /// the inbox, later ones share it. The inbox is sized for clients' messages, and a scrape that gives up waiting
    /// on a stalled loop leaves its request behind, so uncoalesced scrapes could fill it (and did, crashing the server).
    /// </summary>
    public Task RequestGaugesAsync()
    {
        var pending = Volatile.Read(ref _gaugesPending);
        if (pending is not null)
        {
            return pending.Task;
        }

        var mine = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        pending = Interlocked.CompareExchange(ref _gaugesPending, mine, null);
        if (pending is not null)
        {
            return pending.Task;
        }

        Post(new LoopAction(static l =>
        {
            l.PublishGauges();
            Interlocked.Exchange(ref l._gaugesPending, null)?.TrySetResult();
        }));
        return mine.Task;
    }

    /// <summary>
    /// A new idle timeout: this loop checks its clients against it at once. Coalesced as <see cref="RequestGaugesAsync"/> is,
    /// so a client repeating CONFIG SET timeout while this loop is busy adds one message at most.
    /// </summary>
    public void RequestIdleRecheck()
    {
        if (Interlocked.Exchange(ref _idleRecheckPosted, 1) == 0)
        {
            PostOrRun(new LoopAction(static l =>
            {
                Volatile.Write(ref l._idleRecheckPosted, 0);
                l.OnIdleTimeoutChanged();
            }));
        }
    }

    /// <summary>Copies this shard's key counts where the metrics scrape can read them (invariant 1: only we read the keyspace).</summary>
    public void PublishGauges()
    {
        for (var d = 0; d < Store.Dbs.Length; d++)
        {
            Volatile.Write(ref Gauges.Keys[d], Store.Dbs[d].Count);
            Volatile.Write(ref Gauges.Expiring[d], Store.Dbs[d].VolatileCount);
        }

        Volatile.Write(ref Gauges.Expired, Store.Stats.ExpiredKeys);
    }

    /// <summary>
    /// Counts one executed command: per-loop stats for INFO (commandstats, and errorstats when its reply, written to
    /// <paramref name="reply"/> from <paramref name="before"/>, is an error), and the latency histogram for /metrics.
    /// </summary>
    public void RecordCommand(CommandSpec spec, long elapsedTicks, ReplyBuffer reply, int before)
    {
        var failed = reply.Length > before && reply.WrittenSpan[before] == (byte)'-';
        if (failed)
        {
            Stats.CountError(reply.WrittenSpan[before..]);
        }

        Stats.Record(spec.Id, elapsedTicks, failed);
        if (_commandDuration.Enabled)
        {
            _commandDuration.Record(elapsedTicks / (double)Stopwatch.Frequency, new KeyValuePair<string, object?>("family", (spec.Parent ?? spec).Group));
        }
    }

    public void Stop()
    {
        _stopping = true;
        Wake();
    }

    public bool Join(TimeSpan timeout) => _thread.Join(timeout);

    /// <summary>
    /// Posts work from any thread. A parked loop is woken: at once when the producer is not a shard
    /// loop; at the end of the producer's turn when it is, so that every message one turn sends to
    /// a loop costs one wake (one eventfd write and one epoll return) however many connections sent them.
    /// </summary>
    public void Post(ShardWork work)
    {
        Enqueue(_inbox, work, "inbox");

        if (t_current is { } from)
        {
            from.Stats.MessagesSent++;
            if (!from._wakePending[Id])
            {
                if (from._wakeCount == 0)
                {
                    from._wakesDeferredSince = Stopwatch.GetTimestamp();
                }

                from._wakePending[Id] = true;
                from._wakeList[from._wakeCount++] = Id;
            }

            return;
        }

        WakeIfParked();
    }

    /// <summary>
    /// Posts a handed-off group whose replies the target already sent, without a wake: the owner takes it
    /// at its next turn, and before it would park. The owner is woken only if it asked for the group
    /// (it saw its client's next request or closed it, CommandGroup.OwnerWaits) or is draining for a stop.
    /// Dekker-style like Post: the enqueue is ordered before the reads here, and the owner's request is
    /// ordered before its park re-checks this queue. A connection has at most one such group out.
    /// </summary>
    public void PostQuiet(CommandGroup group)
    {
        Enqueue(_quietInbox, group, "quiet inbox");

        if (t_current is { } from)
        {
            from.Stats.MessagesSent++;
        }

        if (group.OwnerWaiting || _draining)
        {
            WakeIfParked();
        }
    }

    /// <summary>
    /// Posts the release of an op's hold on this shard (OpStep), without a wake unless something here waits for a
    /// hold: a release is only urgent to work queued behind it, and every such work sits in this loop's FIFO. The
    /// loop takes it at its next turn, and before it would park (its park re-checks this queue). Dekker-style:
    /// the enqueue is ordered before the read of <see cref="_heldWaiting"/>, and this loop publishes that flag
    /// before it announces its park and re-checks the queue, so either it sees the release or the releaser sees
    /// the flag and wakes it. The queue's bound is in DrainInbox.
    /// </summary>
    public void PostRelease(ShardWork release)
    {
        Enqueue(_quietInbox, release, "quiet inbox");

        if (t_current is { } from)
        {
            from.Stats.MessagesSent++;
        }

        if (Volatile.Read(ref _heldWaiting) != 0 || _draining)
        {
            WakeIfParked();
        }
    }

    /// <summary>Runs work now if called on this loop's thread, otherwise posts it.</summary>
    public void PostOrRun(ShardWork work)
    {
        if (OnLoopThread)
        {
            Submit(work);
        }
        else
        {
            Post(work);
        }
    }

    /// <summary>Registers a freshly accepted socket with this loop. Called on the loop thread.</summary>
    public void Adopt(Socket socket, long clientId)
    {
        int slot;
        if (_freeSlots.Count > 0)
        {
            slot = _freeSlots.Pop();
        }
        else
        {
            slot = _connections.Count;
            _connections.Add(null);
        }

        var conn = new Connection(this, socket, clientId, slot);
        _connections[slot] = conn;
        var ev = new Native.EpollEvent
        {
            Events = ReadEvents,
            Data = (ulong)slot + 1,
        };
        if (Native.epoll_ctl(_epfd, Native.EPOLL_CTL_ADD, conn.Fd, ref ev) != 0)
        {
            conn.Close("epoll_ctl failed");
            return;
        }

        ArmIdleCheck();
        conn.Pump();
    }

    /// <summary>
    /// Asks for EPOLLOUT only while a connection has unsent output, as Redis does: a permanent
    /// edge-triggered EPOLLOUT would wake the loop every time an ACK frees send-buffer space.
    /// </summary>
    public void WantWritable(Connection conn, bool want)
    {
        var ev = new Native.EpollEvent
        {
            Events = want ? ReadEvents | Native.EPOLLOUT : ReadEvents,
            Data = (ulong)conn.Slot + 1,
        };
        if (Native.epoll_ctl(_epfd, Native.EPOLL_CTL_MOD, conn.Fd, ref ev) != 0)
        {
            conn.Close($"epoll_ctl(MOD) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    public void Forget(Connection conn)
    {
        _connectionTimers.AddStale(conn.ArmedTimers);
        var ev = default(Native.EpollEvent);
        _ = Native.epoll_ctl(_epfd, Native.EPOLL_CTL_DEL, conn.Fd, ref ev);
        _connections[conn.Slot] = null;
        _slotsFreedThisTurn.Add(conn.Slot);
    }

    /// <summary>Runs one keyed command against this shard. Only ever called on this loop's thread.</summary>
    public void ExecuteKeyed(CommandSpec spec, ArgView args, ReplyBuffer reply, int db, bool noTouch) =>
        ExecuteKeyedFrom(Stopwatch.GetTimestamp(), spec, args, reply, db, noTouch);

    /// <summary>
    /// Runs one keyed command whose time is counted from <paramref name="start"/>, and returns the timestamp its time
    /// ends at. Commands run back to back (a group's) chain them: each starts where the one before ended, so a
    /// command costs one clock read rather than two, and its time includes the little the group does between
    /// commands for it (the prefetch of its keys, the output bound).
    /// </summary>
    public long ExecuteKeyedFrom(long start, CommandSpec spec, ArgView args, ReplyBuffer reply, int db, bool noTouch)
    {
        var before = reply.Length;
        var ctx = new CommandContext
        {
            Args = args,
            Reply = reply,
            Store = Store,
            Db = Store.Dbs[db],
            NowMs = ClockAt(start),
            Spec = spec,
        };
        Store.NoTouch = noTouch;
        try
        {
            (spec.Keyed ?? spec.OnOneShard)!(ref ctx);
        }
        catch (OutputLimitException)
        {
            // The reply would pass what the client may hold: dropped, and the buffer stays marked, so its owner cuts the
            // client off (Connection.CheckOutputLimit, CommandGroup.Run).
            reply.Truncate(before);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            reply.Truncate(before);
            reply.Error("ERR internal error: " + ex.Message);
            Server.Log.CommandFailed(ex, spec.FullName, Id);
        }
        finally
        {
            Store.NoTouch = false;
        }

        var end = Stopwatch.GetTimestamp();
        RecordCommand(spec, end - start, reply, before);
        return end;
    }

    /// <summary>Runs every phase of an op that involves only this shard, and its reply.</summary>
    public void RunWholeOp(ShardOp op, ReplyBuffer reply)
    {
        var start = Stopwatch.GetTimestamp();
        var before = reply.Length;
        op.StampStart(ClockAt(start));
        var phase = 0;
        while (true)
        {
            RunOpPhase(op, phase);
            if (op.Failure is not null || !ContinueOp(op, phase))
            {
                break;
            }

            phase++;
        }

        ReplyToOp(op, reply);
        RecordCommand(op.Spec, Stopwatch.GetTimestamp() - start, reply, before);
    }

    /// <summary>
    /// Runs one phase of an op on this shard. An exception is the op's failure, not the loop's: it is logged and kept on
    /// the op (<see cref="ShardOp.Fail"/>), so the op still returns home, releases what it holds and is answered.
    /// </summary>
    public void RunOpPhase(ShardOp op, int phase, bool prefetched = false)
    {
        Store.NoTouch = op.NoTouch;
        try
        {
            if (!prefetched)
            {
                op.PrefetchKeys(Store);
            }

            if (op is LoopOp lo)
            {
                lo.RunOnLoop(this, phase);
            }
            else
            {
                op.Run(Store, phase);
            }
        }
        catch (OutputLimitException ex)
        {
            // Its part of the reply (an MGET's values here) would pass what the client may hold: the op is answered by
            // cutting the client off (ReplyToOp), not logged as a defect.
            op.Fail(ex);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            op.Fail(ex);
            Server.Log.CommandFailed(ex, op.Spec.FullName, Id);
        }
        finally
        {
            Store.NoTouch = false;
        }
    }

    /// <summary>Whether the op has another phase; an exception from its decision is its failure (<see cref="RunOpPhase"/>).</summary>
    public bool ContinueOp(ShardOp op, int phase)
    {
        try
        {
            return op.Continue(phase);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            op.Fail(ex);
            Server.Log.CommandFailed(ex, op.Spec.FullName, Id);
            return false;
        }
    }

    /// <summary>Writes the op's reply, or an internal error if any part of it failed (then or while replying).</summary>
    public void ReplyToOp(ShardOp op, ReplyBuffer reply)
    {
        var before = reply.Length;
        try
        {
            if (op.Failure is OutputLimitException)
            {
                reply.MarkOverflowed();
                return;
            }

            if (op.Failure is null)
            {
                try
                {
                    op.Reply(reply);
                    return;
                }
                catch (OutputLimitException)
                {
                    // The reply passes what the client may hold: dropped, and the buffer stays marked, so the client is
                    // cut off.
                    reply.Truncate(before);
                    return;
                }
                catch (Exception ex) when (ex is not OutOfMemoryException)
                {
                    op.Fail(ex);
                    Server.Log.CommandFailed(ex, op.Spec.FullName, Id);
                }
            }

            reply.Truncate(before);
            reply.Error("ERR internal error: " + op.Failure!.Message);
        }
        finally
        {
            // What Release gives back is the op's own: a failure there is logged, and never keeps the op from coming home.
            try
            {
                op.Release();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Server.Log.CommandFailed(ex, op.Spec.FullName, Id);
            }
        }
    }

    /// <summary>True when a keyed command for this shard may run inline now: nothing waits ahead of it and none of its keys is held.</summary>
    public bool CanRunKeyedNow(CommandSpec spec, ArgView args, int db) => _held.Count == 0 && Locks.KeysFree(spec, args, db);

    /// <summary>Close every connection and free the reactor. Called after the thread stopped.</summary>
    public void Dispose()
    {
        // By index: Close frees the connection's slot (Forget), which a foreach would reject as a modified list.
        for (var i = 0; i < _connections.Count; i++)
        {
            if (_connections[i] is { } c)
            {
                c.Close("server shutdown");

                // Every loop has stopped (BasaltServer joins them all first), so no handed-off group can still send.
                c.DisposeSocketAfterStop();
            }
        }

        _ = Native.close(_epfd);
        _ = Native.close(_eventFd);
    }

    private void Submit(ShardWork work)
    {
        // Work that waited for a hold keeps its place: nothing new jumps ahead of it.
        if (!work.BypassesHold(this) && (_held.Count > 0 || !work.Admissible(this)))
        {
            _held.Enqueue(work);
            return;
        }

        work.Execute(this);
    }

    /// <summary>Runs work that waited for a hold, in arrival order, until the next one in line must wait again.</summary>
    private void RunHeld()
    {
        while (_held.Count > 0 && _held.Peek().Admissible(this))
        {
            _held.Dequeue().Execute(this);
            FlushWakesIfLate();
        }
    }

    /// <summary>Inboxes are sized for every client's worst case, so a full one is a broken invariant: refuse loudly.</summary>
    private void Enqueue(MpscQueue<ShardWork> queue, ShardWork work, string name)
    {
        if (!queue.TryEnqueue(work))
        {
            throw new InvalidOperationException($"shard {Id} {name} full ({queue.Capacity} messages)");
        }
    }

    private void WakeIfParked()
    {
        if (Volatile.Read(ref _sleeping) == 1 && Interlocked.Exchange(ref _sleeping, 0) == 1)
        {
            Wake();
        }
    }

    /// <summary>
    /// Wakes the loops this turn posted to once the first of those wakes has waited <see cref="MaxWakeDeferUs"/>. Called
    /// between pieces of work: a turn is usually far shorter, but one that runs a heavy group (300 GETs of 1 MB values
    /// build 256 MB of replies) must not keep the messages it already sent from their loops for the rest of the turn.
    /// Deferred that way, 24 groups of 256 MB piled up, built and posted, while their owners slept.
    /// </summary>
    private void FlushWakesIfLate()
    {
        if (_wakeCount > 0 && Stopwatch.GetTimestamp() - _wakesDeferredSince > MaxWakeDeferTicks)
        {
            FlushWakes();
        }
    }

    /// <summary>Wakes the loops this turn posted to. Runs before every park, so no posted message waits past this loop's turn.</summary>
    private void FlushWakes()
    {
        var loops = Server.Loops;
        for (var i = 0; i < _wakeCount; i++)
        {
            var id = _wakeList[i];
            _wakePending[id] = false;
            loops[id].WakeIfParked();
        }

        _wakeCount = 0;
    }

    private void Wake()
    {
        ulong one = 1;
        _ = Native.write(_eventFd, (byte*)&one, sizeof(ulong));
    }

    private void Run()
    {
        t_current = this;
        SetSchedPolicy();
        var events = (Native.EpollEvent*)NativeMemory.Alloc(MaxEvents, (nuint)sizeof(Native.EpollEvent));
        try
        {
            while (!_stopping)
            {
                Turn(events);
            }
        }
        catch (Exception ex)
        {
            // A loop that dies takes its shard with it: fail loudly rather than serve a partial keyspace.
            Server.Log.LoopCrashed(ex, Id);
            Environment.FailFast($"shard {Id} loop crashed", ex);
        }
        finally
        {
            NativeMemory.Free(events);
        }
    }

    /// <summary>Sets this thread's policy from shard-sched-policy; a failure is logged and the loop runs on under the inherited one.</summary>
    private void SetSchedPolicy()
    {
        var policy = Server.Config.ShardSchedPolicy == ShardSchedPolicy.Batch ? Native.SCHED_BATCH : Native.SCHED_OTHER;
        var priority = 0;
        if (Native.sched_setscheduler(0, policy, &priority) != 0)
        {
            Server.Log.SchedPolicyFailed(Id, Server.Config.ShardSchedPolicy.ToString().ToLowerInvariant(), Marshal.GetLastPInvokeError());
        }
    }

    private void Turn(Native.EpollEvent* events)
    {
        ReadClock();
        Volatile.Write(ref Stats.LastTurnTicks, Environment.TickCount64);

        // The last turn's events are all handled: no event can name the connections closed in it any more.
        foreach (var slot in _slotsFreedThisTurn)
        {
            _freeSlots.Push(slot);
        }

        _slotsFreedThisTurn.Clear();

        var drained = DrainInbox();
        RunHeld();
        FlushWakes();
        var timeout = drained == InboxDrainCap || _runAgain.Count > 0 || (_held.Count > 0 && _held.Peek().Admissible(this)) ? 0 : NextTimerDelay();
        if (timeout != 0)
        {
            // Announce the park, then re-check: a producer that enqueued before seeing the flag
            // is caught here, one that enqueues after will see it and write the eventfd.
            Volatile.Write(ref Stats.Parked, 1);
            Volatile.Write(ref _heldWaiting, _held.Count > 0 ? 1 : 0);
            Interlocked.Exchange(ref _sleeping, 1);
            if (!_inbox.IsEmpty || !_quietInbox.IsEmpty)
            {
                Volatile.Write(ref _sleeping, 0);
                timeout = 0;
            }
        }

        var n = Native.epoll_wait(_epfd, events, MaxEvents, timeout);
        Volatile.Write(ref _sleeping, 0);

        // Woken: count this as a turn for /healthz before handling events, so a long park never reads as a stall.
        Volatile.Write(ref Stats.LastTurnTicks, Environment.TickCount64);
        Volatile.Write(ref Stats.Parked, 0);
        Stats.Wakes++;
        ReadClock();
        RunAgain();
        for (var i = 0; i < n; i++)
        {
            var data = events[i].Data;
            if (data == 0)
            {
                if ((++_eventFdWakes & ((1 << 20) - 1)) == 0)
                {
                    ulong counter;
                    _ = Native.read(_eventFd, (byte*)&counter, sizeof(ulong));
                }

                continue;
            }

            var conn = _connections[(int)(data - 1)];
            if (conn is null)
            {
                continue;
            }

            var flags = events[i].Events;
            try
            {
                if ((flags & Native.EPOLLOUT) != 0)
                {
                    conn.OnWritable();
                }

                if ((flags & (Native.EPOLLIN | Native.EPOLLRDHUP | Native.EPOLLHUP | Native.EPOLLERR)) != 0)
                {
                    conn.OnReadable(hangup: (flags & (Native.EPOLLRDHUP | Native.EPOLLHUP | Native.EPOLLERR)) != 0);
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Server.Log.ConnectionFailed(ex, conn.Id);
                conn.Close("internal error");
            }

            FlushWakesIfLate();

            // Messages that came in while the turn ran (another shard's part of an op done, a group's replies, a
            // release) are taken between connections rather than at the next turn: a cross-shard step otherwise
            // waited for the rest of the turn on each loop it crossed. Slots freed meanwhile are not reused before the
            // next turn (Forget), so a connection adopted here never takes an event of this batch meant for another.
            if (!_inbox.IsEmpty || !_quietInbox.IsEmpty)
            {
                DrainInbox();
                RunHeld();
            }
        }

        RunHeld();
        FlushWakes();
        RunTimers();
        if (_draining)
        {
            CheckDrained();
        }
    }

    /// <summary>Lists a connection to be pumped again next turn: it has input left that its last pump didn't read.</summary>
    public void RunAgainNextTurn(Connection conn)
    {
        if (!conn.QueuedToRunAgain)
        {
            conn.QueuedToRunAgain = true;
            _runAgain.Add(conn);
        }
    }

    /// <summary>
    /// Pumps the connections listed last turn, before this turn's events; those that again leave input unread list
    /// themselves for the next.
    /// </summary>
    private void RunAgain()
    {
        if (_runAgain.Count == 0)
        {
            return;
        }

        (_runAgain, _runningAgain) = (_runningAgain, _runAgain);
        foreach (var conn in _runningAgain)
        {
            conn.QueuedToRunAgain = false;
            try
            {
                conn.Pump();
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Server.Log.ConnectionFailed(ex, conn.Id);
                conn.Close("internal error");
            }

            FlushWakesIfLate();
        }

        _runningAgain.Clear();
    }

    private void CheckDrained()
    {
        if (_drained.Task.IsCompleted || !IsFree)
        {
            return;
        }

        // Idle connections close now (a clean FIN); busy ones are looked at again after the turn that serves them.
        var busy = false;
        for (var i = 0; i < _connections.Count; i++)
        {
            if (_connections[i] is not { } c)
            {
                continue;
            }

            if (c.IsIdle)
            {
                c.Close("server shutdown");
            }
            else
            {
                busy = true;
            }
        }

        if (!busy)
        {
            _drained.TrySetResult();
        }
    }

    /// <summary>
    /// Takes the quiet inbox (returned groups, releases), then the inbox, then the quiet inbox again. The second
    /// pass bounds the releases a client can have queued here: any later op of the client's that involves this
    /// shard sends a message into the inbox after its release, so once this pass takes that message the release
    /// is already in the quiet inbox and this call takes it too. A client's releases can pile up only while one
    /// inbox pass takes its ops' messages one after another: one release, plus one per message taken in that pass.
    /// </summary>
    private int DrainInbox()
    {
        DrainQuiet();
        var n = 0;
        while (n < InboxDrainCap && _inbox.TryDequeue(out var work))
        {
            n++;
            SubmitFromInbox(work!);
            FlushWakesIfLate();
        }

        DrainQuiet();

        // Counted by the consumer: producers on other threads never write this loop's counters.
        Stats.MessagesReceived += n;
        if (n == InboxDrainCap)
        {
            Stats.DrainsAtCap++;
        }

        return n;
    }

    private void DrainQuiet()
    {
        var quietCount = 0;
        while (_quietInbox.TryDequeue(out var quiet))
        {
            quietCount++;
            SubmitFromInbox(quiet!);
        }

        Stats.MessagesReceived += quietCount;
    }

    private void SubmitFromInbox(ShardWork work)
    {
        try
        {
            Submit(work);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException and not InvalidOperationException)
        {
            Server.Log.WorkFailed(ex, Id);
        }
    }

    /// <summary>The active expiry cycle's period: 1000 / hz ms, as Redis's serverCron runs it (100 ms at the default hz 10).</summary>
    private int ExpireIntervalMs => 1000 / Server.Config.Hz;

    private int NextTimerDelay()
    {
        var delay = -1;

        // Active expiry waits while an op holds the whole shard (RunTimers): its timer doesn't count then, or a due expiry
        // would keep the loop from parking for as long as the hold lasts. The hold ends on this loop, in a turn, after
        // which the next park counts the timer again. Key holds don't stop it: it passes over the held keys.
        if (Store.VolatileKeys > 0 && Locks.Exclusive is null)
        {
            var interval = ExpireIntervalMs;
            if (_nextExpireAt == 0)
            {
                _nextExpireAt = Environment.TickCount64 + interval;
            }

            delay = (int)Math.Clamp(_nextExpireAt - Environment.TickCount64, 0, interval);
        }

        if (_nextIdleCheckAt != 0)
        {
            var untilCheck = (int)Math.Clamp(_nextIdleCheckAt - Environment.TickCount64, 0, int.MaxValue);
            delay = delay < 0 ? untilCheck : Math.Min(delay, untilCheck);
        }

        if (_connectionTimers.TryPeekDue(out var due))
        {
            var untilDue = (int)Math.Clamp(due - Environment.TickCount64, 0, int.MaxValue);
            delay = delay < 0 ? untilDue : Math.Min(delay, untilDue);
        }

        return delay;
    }

    /// <summary>
    /// Wakes the loop in <paramref name="inMs"/> to check <paramref name="conn"/>'s soft output limit again: a client that
    /// stops reading and sending gets no new reply to check it by. One entry per connection at a time.
    /// </summary>
    public void WatchOutput(Connection conn, long inMs) => Watch(conn, inMs, ConnectionTimer.OutputLimit);

    /// <summary>Wakes the loop in <paramref name="inMs"/> to end <paramref name="conn"/>'s lingering close (close-linger). Once per connection.</summary>
    public void WatchLinger(Connection conn, long inMs) => Watch(conn, inMs, ConnectionTimer.Linger);

    /// <summary>Wakes the loop in <paramref name="inMs"/> to look at <paramref name="conn"/>'s big buffers (Connection.OnTrimDue).</summary>
    public void WatchTrim(Connection conn, long inMs) => Watch(conn, inMs, ConnectionTimer.Trim);

    // At least 1 ms ahead, so a handler that re-arms never finds its new deadline already due in the same pass; at most
    // 100 years, so no caller's arithmetic can wrap the deadline into the past.
    private void Watch(Connection conn, long inMs, ConnectionTimer kind) =>
        _connectionTimers.Add(conn, kind, Environment.TickCount64 + Math.Clamp(inMs, 1, MaxDeadlineMs));

    /// <summary>
    /// Arms the idle-client check when a client is adopted: with a timeout set, the loop must wake by the time the new
    /// client could be idle too long, unless a check is already armed (it is then due no later than that).
    /// </summary>
    private void ArmIdleCheck()
    {
        var timeoutMs = (long)Server.Config.IdleTimeoutSeconds * 1000;
        if (timeoutMs > 0 && _nextIdleCheckAt == 0)
        {
            _nextIdleCheckAt = Environment.TickCount64 + timeoutMs + 1;
        }
    }

    /// <summary>
    /// CONFIG SET timeout changed the limit: check at once, which closes clients already past the new limit and
    /// arms the next check from it (or disarms it, for 0). Runs on this loop's thread (<see cref="RequestIdleRecheck"/>).
    /// </summary>
    private void OnIdleTimeoutChanged()
    {
        _nextIdleCheckAt = Environment.TickCount64;
    }

    /// <summary>
    /// Redis's timeout: closes every client silent (nothing read from it, nothing sent to it) for more than the
    /// timeout, then arms the next check for the earliest deadline among those left. A client with work out on
    /// other shards is waiting for the server, not idle, as Redis exempts its blocked clients; it is looked at again
    /// a full timeout later. The check runs at most every <see cref="MinIdleCheckGapMs"/>, so many clients with
    /// spread-out deadlines cost one pass over the connections per interval, as Redis's clientsCron does.
    /// </summary>
    private void CloseIdleClients(long now)
    {
        _nextIdleCheckAt = 0;
        var timeoutMs = (long)Server.Config.IdleTimeoutSeconds * 1000;
        if (timeoutMs == 0)
        {
            return;
        }

        var next = long.MaxValue;
        for (var i = 0; i < _connections.Count; i++)
        {
            if (_connections[i] is not { Closed: false } c)
            {
                continue;
            }

            if (c.HasWorkOut)
            {
                next = Math.Min(next, now + timeoutMs + 1);
            }
            else if (now - c.LastInteractionMs > timeoutMs)
            {
                c.Close("idle timeout");
            }
            else
            {
                next = Math.Min(next, c.LastInteractionMs + timeoutMs + 1);
            }
        }

        if (next != long.MaxValue)
        {
            _nextIdleCheckAt = Math.Max(next, now + MinIdleCheckGapMs);
        }
    }

    private void RunTimers()
    {
        var now = Environment.TickCount64;
        if (_nextIdleCheckAt != 0 && now >= _nextIdleCheckAt)
        {
            CloseIdleClients(now);
        }

        if (_nextExpireAt != 0 && now >= _nextExpireAt && Locks.Exclusive is null)
        {
            // A bounded slice: 1 ms, then back to serving; if work remains, run again on the next turn. Keys held by
            // multi-shard ops are passed over: an unbroken run of such ops (MSETs across shards) kept every key here
            // from expiring actively for as long as it lasted.
            var more = Store.ActiveExpire(NowMs, TimeSpan.FromMilliseconds(1), Locks.KeyHolders > 0 ? Locks : null);
            _nextExpireAt = more ? now : now + ExpireIntervalMs;
        }

        while (_connectionTimers.TryTakeDue(now, out var conn, out var kind))
        {
            // As on the socket-event path: a failure is this connection's, which is closed, not the loop's.
            try
            {
                switch (kind)
                {
                    case ConnectionTimer.Linger:
                        conn.OnLingerDue();
                        break;
                    case ConnectionTimer.Trim:
                        conn.OnTrimDue();
                        break;
                    default:
                        conn.OnOutputWatchDue();
                        break;
                }
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Server.Log.ConnectionFailed(ex, conn.Id);
                conn.Close("internal error");
            }
        }

        _connectionTimers.CompactIfStale();
    }
}

/// <summary>An op that needs the loop (its connections), not just the store: CLIENT LIST, INFO.</summary>
internal abstract class LoopOp(in OpRequest request) : ShardOp(request)
{
    public OpRequest Request { get; } = request;

    public abstract void RunOnLoop(ShardLoop loop, int phase);

    public override void Run(ShardStore store, int phase) => throw new InvalidOperationException("LoopOp runs through RunOnLoop");
}
