using System.Net;
using System.Net.Sockets;
using System.Text;
using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using Basalt.Server.Net;
using Basalt.Server.Observability;

namespace Basalt.Server.Shards;

/// <summary>
/// One client, owned by one shard loop for its whole life: only that loop's thread reads its
/// socket, parses its requests and writes its replies (invariant 2: one writer, replies in order).
///
/// A turn parses every complete request in the buffer. Keys on this shard run inline while no
/// earlier command of the batch went elsewhere; the rest are grouped per target shard and sent
/// as one message each. When all groups are back, their replies are copied out in request order.
/// A command that is not single-key (SELECT, MSET, INFO…) is a barrier: it waits for the batch.
/// </summary>
internal sealed unsafe class Connection
{
    private const int InitialInput = 16 * 1024;
    private const int MaxBatch = 1024;

    /// <summary>
    /// The most unsent output a client may have whatever client-output-buffer-limit says (Redis's "normal 0 0 0" means no
    /// limit): one buffer can't pass 2 GB. With 512 MB, what is pending, a pipeline group's replies (cut off at the same
    /// bound) and one more reply of up to proto-max-bulk-len's default still fit in one.
    /// </summary>
    private const long MaxOutputBytes = 512L << 20;

    /// <summary>Socket reads one <see cref="Pump"/> makes before the connection waits for the loop's next turn.</summary>
    private const int MaxReadsPerPump = 16;

    /// <summary>Bytes of replies one <see cref="Pump"/> runs commands for before the connection waits for the loop's next turn.</summary>
    private const int MaxOutputPerPump = 4 * 1024 * 1024;

    /// <summary>How long a big buffer may go unused before it is given back (<see cref="NoteBigBuffers"/>); Redis frees an idle query buffer after 2 s.</summary>
    private const int TrimAfterMs = 2000;

    private const long NotOverSoftLimit = long.MinValue;

    /// <summary>The most output a closing connection may still have unsent when it stops counting as a client (Flush).</summary>
    private const int LeaveAheadBytes = 64 * 1024;

    /// <summary>An argument table past this many entries (1 MB of offsets and lengths) is given back with the big buffers.</summary>
    private const int BigArgTable = 128 * 1024;

    // Where the current pass's replies begin in Output: with groups out, Pump sends only what lies before it.
    private int _holdFrom;

    private readonly Socket _socket;
    private readonly RequestParser _parser;
    private readonly ArgList _args = new();
    private readonly CommandGroup?[] _groups;
    private readonly List<CommandGroup> _active = [];
    private readonly BatchBudget _batchBudget = new();
    private byte[] _in = BufferPool.Rent(InitialInput);
    private bool _buffersReleased;
    private int _inLen;
    private int _outSent;
    private bool _readable = true;
    private bool _hangup;
    private bool _wantsWritable;
    // The second (Environment.TickCount64 / 1000) the output went over the soft limit; NotOverSoftLimit while under it.
    private long _softLimitSinceSec = NotOverSoftLimit;
    private bool _outputWatched;
    private bool _trimWatched;
    private long _bigBuffersUsedMs;

    // When a spare op was last kept for batches (NoteSpares): dropped once unused for TrimAfterMs, on a clock of their
    // own, so that a client pipelining batches without pause doesn't keep its big buffers too.
    private long _sparesUsedMs;

    // A trim came due while groups or ops were out (Trim): it runs when they are back, at the next Pump.
    private bool _trimWhenBack;

    private bool _inPump;
    private bool _closeAfterReply;

    // The lingering close (see Discard and FinishReplies): our side is shut once the last reply is sent; the client's
    // end of stream was read; the input dropped since the last request.
    private bool _lingering;
    private bool _leftClients;
    private bool _nonClientSlot;
    private bool _lingerWatched;
    private bool _peerDone;
    private long _discarded;
    private int _waiting;

    // The coordinators of this connection's last two ops spanning shards, kept for the next (RunUngrouped).
    private OpRun? _opRun;
    private OpRun? _previousOpRun;

    // The connection's last finished ops of a reusable kind, retired, made into the next ops of their commands (MakeOp):
    // one of any size, and more, up to a batch's worth, of small ones (SmallSpareArgs), since a batch finishes many at once.
    private readonly ShardOp?[] _spareOps = new ShardOp?[MaxOpBatch];

    // Retired KeyedOps, for the keyed commands of the next batch (MakeKeyedOp); dropped with the batch spares.
    private readonly KeyedOp?[] _spareKeyedOps = new KeyedOp?[MaxOpBatch];
    private int _spareKeyedCount;

    // Multi-key ops that came in a row in this pass over the pipeline, made and not yet started: they run as one batch
    // under one coordinator (StartOps, OpRun.StartBatch), so a pipeline of MGETs over several shards costs the shards one
    // round of messages per batch, not per command.
    private readonly List<ShardOp> _opBatch = [];
    private int _opBatchArgs;
    private const int MaxOpBatch = 16;
    private const int MaxOpBatchArgs = 1024;
    private const int SmallSpareArgs = 64;
    private const int SmallSpareShards = 8;

    // Groups of the current batch still running (on any loop); see GroupFinished.
    private int _groupsOut;
    private int _batchCount;
    private int[] _batchShard = new int[64];
    private int[] _batchOrdinal = new int[64];
    private bool _grouping;

    // Of the commands grouped in this pass, those that could run in an op batch (TakeGroupsIntoBatch).
    private int _groupedBatchable;
    private int _barrierStart = -1;
    private int _barrierCount;
    private string? _pendingProtocolError;
    private int _peekedTo;
    private bool _handedOff;
    private bool _socketDisposed;

    public Connection(ShardLoop loop, Socket socket, long id, int slot)
    {
        Loop = loop;
        _socket = socket;
        Id = id;
        Slot = slot;
        Fd = (int)socket.Handle;
        _parser = new RequestParser(loop.Server.Limits);
        _groups = new CommandGroup?[loop.Server.Loops.Length];
        Output = new ReplyBuffer(4096);
        CreatedMs = Environment.TickCount64;
        LastInteractionMs = CreatedMs;
        RemoteEndPoint = socket.RemoteEndPoint as IPEndPoint;
        LocalEndPoint = socket.LocalEndPoint as IPEndPoint;
        Authenticated = string.IsNullOrEmpty(loop.Server.Config.RequirePass);
    }

    public ShardLoop Loop { get; }

    public long Id { get; }

    public int Slot { get; }

    public int Fd { get; }

    public ReplyBuffer Output { get; }

    /// <summary>The last command name this client sent, so a pipeline of one command skips the table lookup.</summary>
    public LastCommandCache CommandCache { get; } = new();

    public bool Closed { get; private set; }

    /// <summary>In a lingering close (<see cref="FinishReplies"/>): every reply sent, no longer a client, only its socket left.</summary>
    public bool Lingering => _lingering;

    /// <summary>How many deadlines of this connection its loop holds (<see cref="ShardLoop.Forget"/> counts them stale).</summary>
    public int ArmedTimers => (_outputWatched ? 1 : 0) + (_trimWatched ? 1 : 0) + (_lingerWatched ? 1 : 0);

    /// <summary>On its loop's list of connections to pump again next turn (<see cref="ShardLoop.RunAgainNextTurn"/>).</summary>
    public bool QueuedToRunAgain { get; set; }

    public IPEndPoint? RemoteEndPoint { get; }

    public IPEndPoint? LocalEndPoint { get; }

    // Client state, read and written on the loop thread only.
    public int Db { get; set; }

    public string Name { get; set; } = string.Empty;

    public string LibName { get; set; } = string.Empty;

    public string LibVersion { get; set; } = string.Empty;

    public bool Authenticated { get; set; }

    public bool NoEvict { get; set; }

    public bool NoTouch { get; set; }

    public long CreatedMs { get; }

    public long LastInteractionMs { get; private set; }

    public string LastCommand { get; private set; } = "NULL";

    public int InputBufferLength => _inLen;

    /// <summary>The shards of the keys of the multi-key command being dispatched, as the router found them (<see cref="Dispatch"/>).</summary>
    public KeyShardMemo KeyShards { get; } = new();

    /// <summary>Input not yet run: a partial frame, or pipelined requests still to come (CLIENT LIST qbuf).</summary>
    public int UnprocessedInput => _inLen - (_parser.InFrame ? _parser.FrameStart : _parser.Position);

    /// <summary>Whether the loop waits for the socket to take more output (a send met EAGAIN): CLIENT LIST events=rw.</summary>
    public bool WaitsToWrite => _wantsWritable;

    /// <summary>The most output this connection's buffer has held for one send (CLIENT LIST rbp).</summary>
    public int OutputPeak { get; private set; }

    public int InputBufferCapacity => _in.Length;

    public int PendingOutput => Output.Length - _outSent;

    /// <summary>
    /// Redis's authRequired: a password is set and this client has not given it. Checked afresh, so clearing
    /// requirepass lets in a client that connected while it was set, as in Redis.
    /// </summary>
    public bool NeedsAuth => !Authenticated && Loop.Server.Config.RequirePass.Length > 0;

    /// <summary>A request of this client's is out on other shards (or they are sending its replies): it waits for the server.</summary>
    public bool HasWorkOut => _waiting != 0 || _handedOff;

    /// <summary>
    /// Nothing received is left unanswered and nothing is left to send: the socket was read to EAGAIN,
    /// every request parsed from it has its reply sent. Only such a connection is closed by a graceful
    /// stop, so the close sends FIN, not the RST that unread input would cause.
    /// </summary>
    public bool IsIdle =>
        !Closed && (_lingering || (_waiting == 0 && PendingOutput == 0 && !_readable && _inLen <= (_parser.InFrame ? _parser.FrameStart : _parser.Position)));

    /// <summary>Sends the reply written so far and closes (QUIT, CLIENT KILL of oneself, protocol errors).</summary>
    public void CloseAfterReply() => _closeAfterReply = true;

    /// <summary>
    /// epoll reported input, or with <paramref name="hangup"/> that the peer shut its side (EPOLLRDHUP, HUP or ERR).
    /// A hang-up is remembered: edge-triggered epoll reports it once, often together with the last data, so a short
    /// read after it must not be taken for "drained" or the end of stream is never read and the socket stays open.
    /// </summary>
    public void OnReadable(bool hangup)
    {
        _readable = true;
        _hangup |= hangup;
        if (_handedOff)
        {
            // The client spoke again (or hung up) before its handed-off group came back: have it returned with a wake.
            _active[0].OwnerWaits();
            return;
        }

        Pump();
    }

    public void OnWritable()
    {
        if (PendingOutput > 0)
        {
            Flush();
        }
    }

    /// <summary>Runs the connection as far as it can go without waiting: parse, execute, read, send.</summary>
    public void Pump()
    {
        if (_inPump || Closed)
        {
            return;
        }

        if (_trimWhenBack && _waiting == 0)
        {
            _trimWhenBack = false;
            Trim();
        }

        _inPump = true;
        var reads = 0;
        long produced = 0;
        try
        {
            while (!Closed && _waiting == 0)
            {
                if (_barrierStart >= 0 || _pendingProtocolError is not null)
                {
                    RunBarrier();
                    continue;
                }

                if (_closeAfterReply)
                {
                    // Nothing more runs. What the client still sends is read and dropped, never left unread: a close with
                    // unread input sends RST, which destroys replies the client has not read yet.
                    Flush();
                    if (Closed || !_readable)
                    {
                        break;
                    }

                    if (reads == MaxReadsPerPump)
                    {
                        Loop.RunAgainNextTurn(this);
                        break;
                    }

                    reads++;
                    if (!Discard())
                    {
                        break;
                    }

                    continue;
                }

                if (PendingOutput >= Loop.Server.Config.OutputFlushBytes)
                {
                    // Send what has piled up, and go on: whatever the socket doesn't take waits for EPOLLOUT, and the
                    // output limits (checked as replies are added) cut off a client that never reads.
                    Flush();
                }

                var before = Output.Length;
                if (ParseAndRun())
                {
                    // Fairness by work, not only by reads: 7 KB of GETs can ask for 256 MB of replies. Past a share of
                    // output the connection yields to the loop's other clients and goes on next turn.
                    produced += Math.Max(0, Output.Length - before);
                    if (produced >= MaxOutputPerPump)
                    {
                        Loop.RunAgainNextTurn(this);
                        break;
                    }

                    continue;
                }

                // Never read while groups are out: compaction would move bytes they still point at. A send that failed
                // may have closed the connection and given its buffers back.
                if (Closed || _waiting > 0 || !_readable)
                {
                    break;
                }

                if (reads == MaxReadsPerPump)
                {
                    // Fairness: a client that keeps its socket full yields to the loop's other work, and goes on next turn.
                    Loop.RunAgainNextTurn(this);
                    break;
                }

                reads++;
                if (!Read())
                {
                    break;
                }
            }
        }
        catch (OutputLimitException)
        {
            // A reply, of a command run here or an op answered here, would have passed what the client may hold.
            CloseOverOutputLimit("a reply would have passed client-output-buffer-limit");
            return;
        }
        finally
        {
            _inPump = false;
        }

        // While groups are out, the replies this pass ran inline ahead of them stay here, so the pass's replies go out
        // in one send when the last group is back (OnGroupDone pumps again). Replies of earlier passes go now: a later
        // pass that waits (a held key, a slow shard) never holds back replies that were already complete.
        Flush(_waiting == 0 ? Output.Length : Math.Min(_holdFrom, Output.Length));
    }

    /// <summary>
    /// A group of the current batch has run, on any loop; true for the last one, which alone is sent home (a
    /// handed-off group is the batch's only one). The decrement orders each group's replies before the last one's post.
    /// </summary>
    public bool GroupFinished() => Interlocked.Decrement(ref _groupsOut) == 0;

    /// <summary>
    /// Copies the reply of an op run whole on another shard into the output (<see cref="OpRun"/>). Past the output bound
    /// the client is cut off, as a batch's merge does (<see cref="OnGroupDone"/>); a copy that fails closes it too,
    /// since the reply it is owed is lost. False when the connection was closed.
    /// </summary>
    public bool TakeOpReply(ReadOnlySpan<byte> reply)
    {
        if (Closed)
        {
            return false;
        }

        var total = PendingOutput + (long)reply.Length;
        var hard = Loop.Server.Config.NormalOutputLimit.HardBytes;
        if (total >= MaxOutputBytes || (hard > 0 && OutputBufferLimits.Counted(total) >= hard))
        {
            Loop.Server.Log.ClientOverLimit(Id, $"an op's reply of {reply.Length} bytes passed client-output-buffer-limit");
            Close("output buffer limit");
            return false;
        }

        try
        {
            BoundOutput();
            Output.WriteRaw(reply);
            return true;
        }
        catch (OutputLimitException)
        {
            CloseOverOutputLimit($"an op's reply of {reply.Length} bytes passed client-output-buffer-limit");
            return false;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            Loop.Server.Log.ConnectionFailed(ex, Id);
            Close("internal error");
            return false;
        }
    }

    /// <summary>Every group of the batch has run: the last of them came home (<see cref="GroupFinished"/>).</summary>
    public void OnGroupDone(CommandGroup group)
    {
        _waiting = 0;

        var handedOff = _handedOff;
        _handedOff = false;
        if (Closed)
        {
            ResetBatch();
            ReleaseBuffers();
            return;
        }

        // The groups share one allowance (BatchBudget), counted in steps, so together they may pass it by a step each
        // and one reply: the sum is checked here too. Merged past the bound, one buffer could outgrow 2 GB.
        long total = PendingOutput;
        var overflowed = false;
        foreach (var g in _active)
        {
            overflowed |= g.Overflowed;
            total += g.Replies.Length - g.SentBytes;
        }

        var hard = Loop.Server.Config.NormalOutputLimit.HardBytes;
        if (overflowed || total >= MaxOutputBytes || (hard > 0 && OutputBufferLimits.Counted(total) >= hard))
        {
            Loop.Server.Log.ClientOverLimit(Id, "replies of one batch passed client-output-buffer-limit");
            ResetBatch();
            Close("output buffer limit");
            return;
        }

        // Whatever happens while copying, the batch ends here: a batch left half-reset would be sent out again. A copy
        // that fails (the output could not grow) loses replies the client is owed, so the client is closed: answering
        // its next requests would pair them with the wrong replies.
        try
        {
            BoundOutput();
            if (handedOff)
            {
                // One group, its replies in request order; the target sent the first SentBytes of them.
                var g = _active[0];
                Output.WriteRaw(g.Replies.WrittenSpan[g.SentBytes..]);
            }
            else
            {
                // Every group is back: copy each reply out in the order the requests came.
                for (var i = 0; i < _batchCount; i++)
                {
                    var g = _groups[_batchShard[i]]!;
                    var ordinal = _batchOrdinal[i];
                    var start = ordinal == 0 ? 0 : g.ReplyEnds[ordinal - 1];
                    Output.WriteRaw(g.Replies.WrittenSpan[start..g.ReplyEnds[ordinal]]);
                }
            }
        }
        catch (OutputLimitException)
        {
            ResetBatch();
            CloseOverOutputLimit("replies of one batch passed client-output-buffer-limit");
            return;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            ResetBatch();
            Loop.Server.Log.ConnectionFailed(ex, Id);
            Close("internal error");
            return;
        }

        ResetBatch();

        CheckOutputLimit();
        Pump();
    }

    private void ResetBatch()
    {
        foreach (var g in _active)
        {
            // Used big only if this batch's replies needed it (read before the reset empties it).
            if (g.Replies.Length > BufferPool.MaxPooled && !Closed)
            {
                NoteBigBuffers();
            }

            g.Reset();
        }

        _active.Clear();
        _batchCount = 0;
        _groupedBatchable = 0;
        _grouping = false;
    }

    public void OnOpDone()
    {
        _waiting--;
        if (Closed)
        {
            ReleaseBuffers();
            return;
        }

        CheckOutputLimit();
        Pump();
    }

    public void Close(string reason)
    {
        if (Closed)
        {
            return;
        }

        Closed = true;
        Loop.Server.Log.ClientClosed(Id, reason);
        Loop.Forget(this);

        // A target holding the write turn may still send on the socket: closing it now could let a new
        // connection reuse the descriptor and receive those bytes. It closes when the group is back.
        if (_handedOff)
        {
            _active[0].OwnerWaits();
        }
        else
        {
            DisposeSocket();
        }

        // Groups still out on other shards point into the input buffer: it goes back to the pool
        // only when the last of them has returned (OnGroupDone / OnOpDone).
        ReleaseBuffers();
    }

    /// <summary>Closes the socket even if a handed-off group never came back; only once every loop has stopped.</summary>
    public void DisposeSocketAfterStop() => DisposeSocket();

    private void DisposeSocket()
    {
        if (_socketDisposed)
        {
            return;
        }

        _socketDisposed = true;
        try
        {
            _socket.Dispose();
        }
        catch (ObjectDisposedException)
        {
        }

        Loop.Server.OnDescriptorFreed();
    }

    private void ReleaseBuffers()
    {
        if (_waiting > 0 || _buffersReleased)
        {
            return;
        }

        DisposeSocket();

        _buffersReleased = true;
        BufferPool.Return(_in);
        _in = [];
        Output.Dispose();

        // No group is out (_waiting is 0): their reply buffers, kept between batches, go too, and so do the spare ops.
        foreach (var g in _groups)
        {
            g?.Replies.Dispose();
        }

        DropSpares(0);

        // Only now, with nothing of it left in any inbox, does the client stop counting against maxclients: the inboxes
        // are sized by that count (a client has at most one message out), so a client that closes with work still out
        // and is replaced at once must not let the sum pass it. One closing after its last reply left before.
        if (_nonClientSlot)
        {
            Loop.Server.OnLingerEnded();
        }

        LeaveClients();
    }

    /// <summary>Parses and dispatches commands. Returns true if it made progress that may allow more.</summary>
    private bool ParseAndRun()
    {
        _holdFrom = Output.Length;
        var dispatched = 0;
        var flushAt = PendingOutput + Loop.Server.Config.OutputFlushBytes;
        // Closed is checked every round: a command may close its own connection (output limit),
        // after which the input buffer is back in the pool.
        while (!Closed && dispatched < MaxBatch && _waiting == 0 && _barrierStart < 0 && _pendingProtocolError is null && !_closeAfterReply)
        {
            if (!_parser.InFrame && _parser.Position >= _peekedTo)
            {
                PrefetchAhead();
            }

            _parser.Unauthenticated = NeedsAuth;
            var status = _parser.Next(_in, _inLen, _args);
            if (status == ParseStatus.Incomplete)
            {
                break;
            }

            if (status == ParseStatus.Empty)
            {
                continue;
            }

            if (status == ParseStatus.Error)
            {
                _pendingProtocolError = _parser.Error;
                break;
            }

            dispatched++;
            var start = _parser.FrameArgStart;
            Dispatch(start, _args.Count - start);
            if (PendingOutput >= flushAt)
            {
                break;
            }
        }

        if (_grouping && _waiting == 0 && !Closed)
        {
            SendGroups();
        }

        if (_opBatch.Count > 0)
        {
            StartOps();
        }

        var pending = _barrierStart >= 0 || _pendingProtocolError is not null;
        return (dispatched > 0 || pending) && _waiting == 0 && !Closed;
    }

    /// <summary>
    /// Looks at the next frames in the buffer and prefetches the lookups of their keys on this shard, so a
    /// pipeline's lookups miss the cache side by side rather than one after another (LookupPrefetch).
    /// </summary>
    private void PrefetchAhead()
    {
        var data = new ReadOnlySpan<byte>(_in, 0, _inLen);
        var pos = _parser.Position;
        Span<int> starts = stackalloc int[LookupPrefetch.Capacity];
        Span<int> lengths = stackalloc int[LookupPrefetch.Capacity];
        var frames = 0;
        while (frames < LookupPrefetch.Capacity && RequestPeek.TrySkipFrame(data, ref pos, out starts[frames], out lengths[frames]))
        {
            frames++;
        }

        // Nothing complete to look at: wait until the parser has passed what the buffer holds now.
        _peekedTo = frames == 0 ? _inLen : pos;
        if (frames < 2)
        {
            return;
        }

        // The key's slot and hash are computed again when the command runs: a few nanoseconds each for a short
        // key, which keeps the peek free of state that dispatch would have to trust; the prefetch saves ~0.8 µs.
        var prefetch = default(LookupPrefetch);
        var slots = Loop.Server.Slots;
        for (var i = 0; i < frames; i++)
        {
            if (lengths[i] >= 0)
            {
                var key = data.Slice(starts[i], lengths[i]);
                if (slots.ShardOf(key) == Loop.Id)
                {
                    prefetch.Add(key);
                }
            }
        }

        prefetch.Run(Loop.Store.Dbs[Db].Table);
    }

    private void Dispatch(int argStart, int argCount)
    {
        // The allowance moves with what was sent and with CONFIG SET: taken afresh for each command.
        BoundOutput();
        var args = new ArgView(_in, _args, argStart, argCount);
        var router = Loop.Server.Router;

        // While grouping or batching, a rejection must wait its turn: resolve silently and replay it as a barrier.
        var holding = _grouping || _opBatch.Count > 0;
        KeyShards.Clear();
        var route = router.Resolve(this, args, holding ? null : Output, out var spec);

        // The shards of a multi-key command's keys, found as it was resolved: for this command only.
        var known = KeyShards.Valid ? KeyShards : null;
        switch (route)
        {
            case Route.Keyed when _opBatch.Count > 0:
                if (!JoinsBatch(route, spec!, args, known))
                {
                    MakeBarrier(argStart, argCount);
                }

                return;
            case Route.Keyed:
                LastCommand = spec!.FullName;
                var target = router.ShardOfKeyed(spec, args, known);
                if (!_grouping && target == Loop.Id && Loop.CanRunKeyedNow(spec, args, Db))
                {
                    Loop.ExecuteKeyed(spec, args, Output, Db, NoTouch);
                    CheckOutputLimit();
                }
                else
                {
                    AddToGroup(target, spec, argStart, argCount);
                }

                return;
            case Route.Rejected:
                if (holding)
                {
                    MakeBarrier(argStart, argCount);
                }
                else
                {
                    // As Redis's lastcmd: the command looked up, refused or not (arity, auth), or NULL if none was found.
                    LastCommand = spec?.FullName ?? "NULL";
                }

                return;
            default:
                if (_opBatch.Count > 0)
                {
                    if (!JoinsBatch(route, spec!, args, known))
                    {
                        MakeBarrier(argStart, argCount);
                    }

                    return;
                }

                if (_grouping)
                {
                    if (!GroupsJoinBatch(route, spec!, args, known))
                    {
                        MakeBarrier(argStart, argCount);
                    }

                    return;
                }

                LastCommand = spec!.FullName;
                RunUngrouped(route, spec, args, known);
                return;
        }
    }

    private void RunUngrouped(Route route, CommandSpec spec, ArgView args, KeyShardMemo? known)
    {
        if (route == Route.Connection)
        {
            Loop.Server.Router.RunConnectionCommand(this, spec, args);
            CheckOutputLimit();
            return;
        }

        var start = System.Diagnostics.Stopwatch.GetTimestamp();
        var op = MakeOp(NewOpRequest(spec, args, known));
        if (op.EarlyError is { } err)
        {
            // The command ran far enough to find its arguments wrong: a call that failed, as Redis counts it.
            var before = Output.Length;
            Output.Error(err);
            Loop.RecordCommand(spec, System.Diagnostics.Stopwatch.GetTimestamp() - start, Output, before);
            OpFinished(op);
            return;
        }

        // An op whose keys are all on this loop's shard, with nothing holding it, runs here and now, with no coordinator
        // (OpRun) and no messages: OpRun.Start would do the same through one.
        if (op.Shards.Length == 1 && op.Shards[0] == Loop.Id && Loop.IsFree)
        {
            Loop.RunWholeOp(op, Output);
            OpFinished(op);
            CheckOutputLimit();
            return;
        }

        // An op that could run in a batch waits for the next commands: they join it while they can (JoinsBatch), and
        // the batch starts at the end of this pass (StartOps).
        if (OpRun.Batches(op, joining: false))
        {
            _opBatch.Add(op);
            _opBatchArgs = args.Count;
            return;
        }

        StartOp(op);
    }

    /// <summary>
    /// While a batch is being gathered (<see cref="_opBatch"/>): true if the command is another op that runs in it, now
    /// added to it; false if it must wait for the batch to finish (a barrier).
    /// </summary>
    private bool JoinsBatch(Route route, CommandSpec spec, ArgView args, KeyShardMemo? known)
    {
        // The multi-key commands that may run on one shard as keyed commands (MGET, MSET, DEL…) and the keyed commands
        // join; the rest never run in a batch. Run keyed, a command would have to wait for the batch.
        if (route == Route.Rejected || _opBatch.Count == MaxOpBatch || _opBatchArgs + args.Count > MaxOpBatchArgs)
        {
            return false;
        }

        var op = BatchOp(spec, args, known);
        if (op is null || !OpRun.Batches(op, joining: true))
        {
            // MSETNX, or a call with an error to answer: it is made again when it runs, after the batch.
            if (op is not null)
            {
                OpFinished(op);
            }

            return false;
        }

        LastCommand = spec.FullName;
        _opBatch.Add(op);
        _opBatchArgs += args.Count;
        return true;
    }

    /// <summary>
    /// While commands are grouped: true if they are all multi-key commands on one shard and the command is an op that
    /// starts a batch, which they are now taken into (<see cref="TakeGroupsIntoBatch"/>); false if it must wait for them.
    /// </summary>
    private bool GroupsJoinBatch(Route route, CommandSpec spec, ArgView args, KeyShardMemo? known)
    {
        if (route != Route.Op || spec.OnOneShard is null || _groupedBatchable != _batchCount || _batchCount >= MaxOpBatch)
        {
            return false;
        }

        var op = MakeOp(NewOpRequest(spec, args, known));
        if (OpRun.Batches(op, joining: false) && TakeGroupsIntoBatch(op, args.Count))
        {
            LastCommand = spec.FullName;
            return true;
        }

        OpFinished(op);
        return false;
    }

    /// <summary>Starts the ops gathered in this pass, one alone or several as a batch; the pass ends with them.</summary>
    private void StartOps()
    {
        if (Closed)
        {
            foreach (var gathered in _opBatch)
            {
                OpFinished(gathered);
            }

            _opBatch.Clear();
            return;
        }

        if (_opBatch.Count == 1)
        {
            var op = _opBatch[0];
            _opBatch.Clear();
            StartOp(op);
            return;
        }

        var run = FreeRun();
        _waiting++;
        run.StartBatch(_opBatch);
        _opBatch.Clear();
    }

    /// <summary>One op at a time per connection (a batch counts as one): starts <paramref name="op"/> under a free coordinator.</summary>
    private void StartOp(ShardOp op)
    {
        var run = FreeRun();
        _waiting++;
        if (run.Start(op))
        {
            _waiting--;
            CheckOutputLimit();
        }
    }

    /// <summary>
    /// A coordinator free for the next op. The last one is reused once its releases have all run (an op spanning shards
    /// then allocates nothing). A release wakes no one (OpStep.Send), so the last one's may still be queued on a loop
    /// with nothing else to do: the one before it is tried next, and a new one made only if both are busy.
    /// </summary>
    private OpRun FreeRun()
    {
        if (_opRun is not { Reusable: true })
        {
            if (_previousOpRun is { Reusable: true })
            {
                (_opRun, _previousOpRun) = (_previousOpRun, _opRun);
            }
            else
            {
                _previousOpRun = _opRun;
                _opRun = new OpRun(this);
            }
        }

        return _opRun;
    }

    // NowMs is the turn's clock, read without a clock call: it is only the op's lower bound, since every op is stamped
    // again as its first part runs (ShardOp.StampStart), and all its parts judge expiry by that stamp.
    private OpRequest NewOpRequest(CommandSpec spec, ArgView args, KeyShardMemo? known = null) => new()
    {
        KeyShards = known,
        Args = args,
        Db = Db,
        Slots = Loop.Server.Slots,
        NowMs = Loop.NowMs,
        DatabaseCount = Loop.Server.Options.Databases,
        Spec = spec,
        ClientId = Id,
        NoTouch = NoTouch,
        ReplyLimit = ReplyAllowance(),
    };

    /// <summary>
    /// The op a command runs as in a batch: its own op for a multi-key command, a <see cref="KeyedOp"/> for a keyed one
    /// (of one shard only: a keyed command is routed by its first key), or null for a command that never joins one.
    /// </summary>
    private ShardOp? BatchOp(CommandSpec spec, ArgView args, KeyShardMemo? known)
    {
        if (spec.OnOneShard is not null)
        {
            return MakeOp(NewOpRequest(spec, args, known));
        }

        if (!KeyedOp.Takes(spec))
        {
            return null;
        }

        KeyedOp op;
        if (_spareKeyedCount > 0)
        {
            op = _spareKeyedOps[--_spareKeyedCount]!;
            _spareKeyedOps[_spareKeyedCount] = null;
            op.Reuse(NewOpRequest(spec, args));
        }
        else
        {
            op = new KeyedOp(NewOpRequest(spec, args));
        }

        op.Protocol = Output.Protocol;
        if (op.Shards.Length != 1)
        {
            OpFinished(op);
            return null;
        }

        return op;
    }

    /// <summary>The op of <paramref name="request"/>: the spare op, when it is of the same command, else a new one.</summary>
    private ShardOp MakeOp(in OpRequest request)
    {
        var spares = _spareOps;
        for (var i = 0; i < spares.Length; i++)
        {
            if (spares[i] is { } spare && ReferenceEquals(spare.Spec, request.Spec))
            {
                spares[i] = null;
                spare.Reuse(request);
                return spare;
            }
        }

        return request.Spec.CreateOp!(request);
    }

    /// <summary>
    /// <paramref name="op"/> is answered and no shard touches it any more (its releases need none of it): a reusable one
    /// is retired and kept for this connection's next call of its command, in place of the spare before it.
    /// </summary>
    /// <remarks>
    /// The first slot takes an op of any size (its tables are bounded by <see cref="ShardOp.Retire"/>); the others, which
    /// serve batches, only ops of at most <see cref="SmallSpareArgs"/> arguments over at most <see cref="SmallSpareShards"/>
    /// shards, so a connection's spares stay small (an MGET op keeps up to 1 KB of reply part per shard it used).
    /// </remarks>
    public void OpFinished(ShardOp op)
    {
        if (op is KeyedOp keyed)
        {
            var keep = _spareKeyedCount < _spareKeyedOps.Length && keyed.Args.Count <= SmallSpareArgs;
            keyed.Retire();
            if (keep)
            {
                _spareKeyedOps[_spareKeyedCount++] = keyed;
                NoteSpares();
            }
            else
            {
                keyed.Discard();
            }

            return;
        }

        if (!op.Reusable)
        {
            return;
        }

        var spares = _spareOps;
        var small = op.Args.Count <= SmallSpareArgs && op.Shards.Length <= SmallSpareShards;
        op.Retire();
        if (spares[0] is null || !small)
        {
            spares[0]?.Discard();
            spares[0] = op;
            return;
        }

        for (var i = 1; i < spares.Length; i++)
        {
            if (spares[i] is null)
            {
                spares[i] = op;

                // Kept for batches, which may not come again: given back once unused for a while (OnTrimDue).
                NoteSpares();
                return;
            }
        }

        op.Discard();
    }

    /// <summary>Drops the spare ops, all of them or those kept for batches only, giving back what they keep.</summary>
    private void DropSpares(int from)
    {
        for (var i = from; i < _spareOps.Length; i++)
        {
            _spareOps[i]?.Discard();
            _spareOps[i] = null;
        }

        for (var i = 0; i < _spareKeyedCount; i++)
        {
            _spareKeyedOps[i]!.Discard();
            _spareKeyedOps[i] = null;
        }

        _spareKeyedCount = 0;
    }

    private void MakeBarrier(int argStart, int argCount)
    {
        _barrierStart = argStart;
        _barrierCount = argCount;
    }

    private void RunBarrier()
    {
        _holdFrom = Output.Length;
        if (_barrierStart >= 0)
        {
            var (start, count) = (_barrierStart, _barrierCount);
            _barrierStart = -1;
            // A keyed command grouped here, or an op that may start a batch, waits for the commands after it: the pass
            // that follows (ParseAndRun, which the pump runs next) groups or gathers them too, and sends the groups or
            // starts the batch at its end. Sent at once, the group cost a round trip of its own, and an op after it in
            // the pipeline could not take it into its batch (TakeGroupsIntoBatch).
            Dispatch(start, count);
            return;
        }

        // One char per byte (RequestParser.Error): a raw byte the client sent goes back as that byte.
        Output.Error(Encoding.Latin1.GetBytes(("ERR " + _pendingProtocolError).Replace('\r', ' ').Replace('\n', ' ')));
        Loop.Stats.CountErrorCode("ERR"u8);
        _pendingProtocolError = null;
        _closeAfterReply = true;
    }

    private void AddToGroup(int target, CommandSpec spec, int argStart, int argCount)
    {
        var g = _groups[target] ??= new CommandGroup(this, target);
        if (g.Count == 0)
        {
            _active.Add(g);
        }

        if (_batchCount == _batchShard.Length)
        {
            Array.Resize(ref _batchShard, _batchCount * 2);
            Array.Resize(ref _batchOrdinal, _batchCount * 2);
        }

        _batchShard[_batchCount] = target;
        _batchOrdinal[_batchCount] = g.Add(spec, argStart, argCount);
        _batchCount++;
        _grouping = true;
        if (spec.OnOneShard is not null || KeyedOp.Takes(spec))
        {
            _groupedBatchable++;
        }
    }

    /// <summary>
    /// An op that could start a batch (<paramref name="op"/>) comes after commands grouped in this pass that are all
    /// multi-key commands on one shard (MGET, MSET, DEL… under one tag, or that happen to land on one shard): they become
    /// ops of a batch that <paramref name="op"/> then joins, instead of going out as groups with the op waiting behind
    /// them. Nothing of a group has run before it is sent, so taking them back changes nothing. False, with every op made
    /// here given back, when one of them can't run in a batch (MSETNX, or a call with an error to answer).
    /// </summary>
    private bool TakeGroupsIntoBatch(ShardOp op, int argCount)
    {
        var args = argCount;
        for (var i = 0; i < _batchCount; i++)
        {
            args += _groups[_batchShard[i]]!.Entry(_batchOrdinal[i]).ArgCount;
        }

        if (args > MaxOpBatchArgs)
        {
            return false;
        }

        for (var i = 0; i < _batchCount; i++)
        {
            var (spec, start, count) = _groups[_batchShard[i]]!.Entry(_batchOrdinal[i]);
            var grouped = BatchOp(spec, new ArgView(_in, _args, start, count), known: null)!;
            _opBatch.Add(grouped);
            if (!OpRun.Batches(grouped, joining: true))
            {
                foreach (var made in _opBatch)
                {
                    OpFinished(made);
                }

                _opBatch.Clear();
                return false;
            }
        }

        ResetBatch();
        _opBatch.Add(op);
        _opBatchArgs = args;
        return true;
    }

    private void SendGroups()
    {
        _batchBudget.Reset();
        _waiting = _active.Count;
        Volatile.Write(ref _groupsOut, _active.Count);

        // Hand the write turn to the target when its group is the whole batch, nothing of ours waits to be
        // sent, and nothing more is to be read or run: its replies then go out from the target, and the
        // group comes back without a wake. Anything else, and the replies come back here to be merged.
        _handedOff = _active.Count == 1 && _active[0].Target != Loop.Id && Output.Length == 0 && !_readable
            && !_closeAfterReply && _barrierStart < 0 && _pendingProtocolError is null
            && !_parser.InFrame && _parser.Position == _inLen;
        foreach (var g in _active)
        {
            g.Prepare(_in, _args, Db, Output.Protocol, NoTouch, GroupOutputLimit(), _active.Count > 1 ? _batchBudget : null, _handedOff ? Fd : -1);
        }

        // Snapshot the list: a local group may complete synchronously and reset it.
        var n = _active.Count;
        Span<int> targets = stackalloc int[n];
        for (var i = 0; i < n; i++)
        {
            targets[i] = _active[i].Target;
        }

        for (var i = 0; i < n; i++)
        {
            Loop.Server.Loops[targets[i]].PostOrRun(_groups[targets[i]]!);
        }
    }

    /// <summary>Reads what the socket has. False when there is nothing more to read now (or it closed).</summary>
    private bool Read()
    {
        Compact();
        if (_inLen == _in.Length && !Grow())
        {
            return false;
        }

        nint n;
        fixed (byte* p = &_in[_inLen])
        {
            n = Native.recv(Fd, p, _in.Length - _inLen, Native.MSG_DONTWAIT);
        }

        if (n > 0)
        {
            LastInteractionMs = Environment.TickCount64;
            Loop.Stats.BytesRead += n;
            var asked = _in.Length - _inLen;
            _inLen += (int)n;

            // A short read drained the socket; edge-triggered epoll reports the next arrival. After a hang-up there
            // is no next arrival, so reading goes on until it returns the end of stream.
            _readable = n == asked || _hangup;
            return true;
        }

        if (n == 0)
        {
            // The client shut its side after its last request. Every request read is answered by now (Read runs only
            // with nothing left to parse and no group out), so send those replies, as Redis does, then close.
            Flush();
            Close("client closed connection");
            return false;
        }

        return OnReceiveFailed();
    }

    /// <summary>recv failed: true to read again at once (EINTR), false when drained (EAGAIN) or closed on the error.</summary>
    private bool OnReceiveFailed()
    {
        var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
        if (errno is Native.EAGAIN or Native.EINTR)
        {
            _readable = errno == Native.EINTR;
            return _readable;
        }

        Close($"read error errno {errno}");
        return false;
    }

    /// <summary>
    /// Reads input that comes after the last request a closing connection answers, and drops it. Bounded as the query
    /// buffer Redis would keep it in is: past client-query-buffer-limit the client is cut off. False when there is nothing
    /// more to read now.
    /// </summary>
    private bool Discard()
    {
        if (_peerDone)
        {
            return false;
        }

        nint n;
        fixed (byte* p = &_in[0])
        {
            n = Native.recv(Fd, p, _in.Length, Native.MSG_DONTWAIT);
        }

        if (n > 0)
        {
            Loop.Stats.BytesRead += n;
            _discarded += n;
            if (_discarded > Loop.Server.Config.QueryBufferLimit)
            {
                Loop.Server.Log.ClientOverLimit(Id, $"{_discarded} bytes sent after its last request, over client-query-buffer-limit");
                Close("query buffer limit");
                return false;
            }

            _readable = n == _in.Length || _hangup;
            return true;
        }

        if (n == 0)
        {
            // The client shut its side: once the replies are out (Flush), nothing is left to wait for.
            _peerDone = true;
            _readable = false;
            if (PendingOutput == 0)
            {
                Close("client closed connection");
            }

            return false;
        }

        return OnReceiveFailed();
    }

    /// <summary>
    /// The last reply of a closing connection is sent. If the client has shut its side, close. Otherwise shut ours, so
    /// the client reads every reply and then the end of stream, and wait (close-linger at most) for it to close; the
    /// socket is then closed with no input left unread, a clean FIN rather than a RST.
    /// </summary>
    private void FinishReplies()
    {
        if (_lingering)
        {
            return;
        }

        var lingerMs = Loop.Server.Config.CloseLingerMs;
        if (_peerDone || lingerMs == 0 || !TakeNonClientSlot())
        {
            Close("close after reply");
            return;
        }

        LeaveClients();

        // Redis would have freed the client by now: it leaves CLIENT LIST too (it left maxclients and connected_clients
        // before its last reply went, LeaveClients); only its descriptor stays.
        _lingering = true;
        if (Native.shutdown(Fd, Native.SHUT_WR) != 0)
        {
            Close("close after reply");
            return;
        }

        _lingerWatched = true;
        Loop.WatchLinger(this, lingerMs);
    }

    /// <summary>
    /// A buffer past <see cref="BufferPool.MaxPooled"/> (input, output, a group's replies) was just used and is kept: a
    /// client that asks for 2 MB values one after another would otherwise map, fault in and unmap 2 MB for every reply,
    /// three times slower. It is given back once no big buffer has been needed for <see cref="TrimAfterMs"/>.
    /// </summary>
    private void NoteBigBuffers()
    {
        _bigBuffersUsedMs = Environment.TickCount64;
        WatchTrim();
    }

    /// <summary>A spare op was just kept for batches: it is dropped once no batch has kept one for <see cref="TrimAfterMs"/>.</summary>
    private void NoteSpares()
    {
        _sparesUsedMs = Environment.TickCount64;
        WatchTrim();
    }

    private void WatchTrim()
    {
        if (!_trimWatched && !Closed)
        {
            _trimWatched = true;
            Loop.WatchTrim(this, TrimAfterMs);
        }
    }

    /// <summary>Whether spare ops kept for batches only are held (<see cref="DropSpares"/> from 1).</summary>
    private bool HasBatchSpares()
    {
        if (_spareKeyedCount > 0)
        {
            return true;
        }

        for (var i = 1; i < _spareOps.Length; i++)
        {
            if (_spareOps[i] is not null)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>The trim deadline came (<see cref="ShardLoop.WatchTrim"/>): gives back the big buffers not needed since, or waits on.</summary>
    public void OnTrimDue()
    {
        _trimWatched = false;
        if (!Closed)
        {
            Trim();
        }
    }

    /// <summary>Gives back the big buffers and spare ops not needed for <see cref="TrimAfterMs"/>, and watches those still kept.</summary>
    private void Trim()
    {
        var now = Environment.TickCount64;
        var unused = now - _bigBuffersUsedMs;
        var sparesUnused = now - _sparesUsedMs;
        var kept = false;
        if (unused >= TrimAfterMs)
        {
            if (PendingOutput == 0)
            {
                Output.Shrink(BufferPool.MaxPooled);
            }

            // Groups out on other loops point into the input and write their replies: both wait until they are back.
            if (_waiting == 0)
            {
                // Requests already answered stay in the input until the next read compacts it: a client that sent one
                // since its last big request would otherwise keep the big input buffer for as long as it goes on.
                if (_barrierStart < 0 && _pendingProtocolError is null)
                {
                    Compact(noteUse: false);
                }

                // A big input buffer is a managed array: given back, it is garbage, counted as the shard's dropped values are.
                if (_inLen == 0 && _in.Length > BufferPool.MaxPooled)
                {
                    Loop.Store.Dropped(_in.Length);
                    BufferPool.Return(_in);
                    _in = BufferPool.Rent(InitialInput);
                }
                else if (_in.Length > BufferPool.MaxPooled && _inLen <= BufferPool.MaxPooled / 2 && _parser.BytesWanted <= BufferPool.MaxPooled)
                {
                    // The start of a small request waits (a client paused mid-command): it moves to a pooled buffer, as
                    // Redis trims its query buffer to what it holds. Compacted, it begins at 0; offsets stay as they are.
                    var next = BufferPool.Rent(Math.Max(InitialInput, _inLen));
                    Buffer.BlockCopy(_in, 0, next, 0, _inLen);
                    Loop.Store.Dropped(_in.Length);
                    BufferPool.Return(_in);
                    _in = next;
                }

                if (_inLen == 0)
                {
                    _args.Shrink(BigArgTable);
                }

                foreach (var g in _groups)
                {
                    g?.Replies.Shrink(64 * 1024);
                }
            }
        }

        // Spare ops kept for batches (up to 15, and 16 keyed ones, each with up to 1 KB of reply part per shard it used).
        if (sparesUnused >= TrimAfterMs && _waiting == 0)
        {
            DropSpares(1);
        }

        // Groups and ops out on other loops are theirs until they come back: what is due then is trimmed as soon as they
        // are (Pump), not a period later, since a client that pipelines without pause nearly always has some out.
        if (_waiting > 0 && (unused >= TrimAfterMs || sparesUnused >= TrimAfterMs))
        {
            _trimWhenBack = true;
        }

        // While any is out its buffers can't be looked at: look again later.
        kept |= _waiting > 0 || Output.Capacity > BufferPool.MaxPooled || _in.Length > BufferPool.MaxPooled || _args.Capacity > BigArgTable;
        for (var i = 0; _waiting == 0 && i < _groups.Length; i++)
        {
            kept |= _groups[i] is { } g && g.Replies.Capacity > BufferPool.MaxPooled;
        }

        var wait = unused >= TrimAfterMs ? TrimAfterMs : TrimAfterMs - unused;
        if (HasBatchSpares())
        {
            kept = true;
            wait = Math.Min(wait, sparesUnused >= TrimAfterMs ? TrimAfterMs : TrimAfterMs - sparesUnused);
        }

        if (kept && !_trimWatched)
        {
            // In use, or used again since: look again once it may have been unused long enough.
            _trimWatched = true;
            Loop.WatchTrim(this, wait);
        }
    }

    /// <summary>close-linger passed and the client has not closed its side (<see cref="ShardLoop.WatchLinger"/>).</summary>
    public void OnLingerDue()
    {
        _lingerWatched = false;
        // What arrived since the last read is read first (a few reads at most), or the close would turn it into a reset.
        for (var i = 0; i < MaxReadsPerPump && !Closed && Discard(); i++)
        {
        }

        if (!Closed)
        {
            Close("close-linger passed");
        }
    }

    /// <summary>Drops bytes of requests already answered; only between batches, when nothing references them.</summary>
    private void Compact(bool noteUse = true)
    {
        var keepFrom = _parser.InFrame ? _parser.FrameStart : _parser.Position;
        if (keepFrom == 0)
        {
            return;
        }

        var partialArgs = _parser.InFrame ? _args.Count - _parser.FrameArgStart : 0;
        _args.KeepLast(partialArgs);
        _parser.OnArgsCompacted();
        Buffer.BlockCopy(_in, keepFrom, _in, 0, _inLen - keepFrom);
        _inLen -= keepFrom;
        _peekedTo = Math.Max(0, _peekedTo - keepFrom);
        _parser.Shift(keepFrom);
        _args.Shift(keepFrom);

        // Used big only if the requests just consumed needed more than a pooled buffer holds (the trim compacts too, and
        // what it drops was used back when it was answered).
        if (noteUse && keepFrom > BufferPool.MaxPooled)
        {
            NoteBigBuffers();
        }
    }

    /// <summary>
    /// Makes room for more input. client-query-buffer-limit counts what Redis's query buffer would hold: the bytes
    /// the current request needs, less its finished arguments of 32 KB or more, which Redis moves out of the query
    /// buffer as they arrive (<see cref="RequestParser.BigArgBytes"/>). One request must also fit one array (2 GB).
    /// </summary>
    private bool Grow()
    {
        var needed = Math.Max((long)_inLen + 1, _parser.BytesWanted);
        var limit = Loop.Server.Config.QueryBufferLimit;
        if (needed - _parser.BigArgBytes > limit || needed > Array.MaxLength)
        {
            var reason = needed > Array.MaxLength ? $"one request would exceed {Array.MaxLength} bytes" : $"query buffer would exceed {limit} bytes";
            Loop.Server.Log.ClientOverLimit(Id, reason);
            Close("query buffer limit");
            return false;
        }

        // Doubling keeps a request that arrives in pieces linear; never past what the limit lets this request hold.
        var wanted = Math.Max(needed, Math.Min((long)_in.Length * 2, limit + _parser.BigArgBytes));

        // Only between batches (see Read), so no group points into the old buffer.
        var next = BufferPool.Rent((int)Math.Min(wanted, Array.MaxLength));
        Buffer.BlockCopy(_in, 0, next, 0, _inLen);
        BufferPool.Return(_in);
        _in = next;

        // A request that needs a big buffer uses it now: a client that sends one and goes quiet gets it back 2 s later
        // (its last read may leave nothing to compact, and so nothing else would count the use).
        if (next.Length > BufferPool.MaxPooled)
        {
            NoteBigBuffers();
        }

        return true;
    }

    /// <summary>
    /// The output a group's replies may reach before its client is cut off: what is left of the hard limit (within one
    /// buffer's reach) after the replies already waiting to be sent. A group over it runs no further command, so a
    /// client with a backlog is cut off without a whole limit's worth of replies built for it on another shard first.
    /// </summary>
    private long GroupOutputLimit()
    {
        var hard = Loop.Server.Config.NormalOutputLimit.HardBytes;
        var limit = hard > 0 ? Math.Min(hard, MaxOutputBytes) : MaxOutputBytes;
        return Math.Max(1, limit - PendingOutput);
    }

    /// <summary>
    /// The length a buffer of replies for this client may reach (<see cref="ReplyBuffer.Limit"/>): past it the client is
    /// over its output limit whatever else it has waiting, so a command that would build more (an MGET naming one big
    /// value a thousand times) stops there and the client is cut off, rather than the server building gigabytes first.
    /// </summary>
    public int ReplyAllowance() => (int)Math.Min(Array.MaxLength, GroupOutputLimit() + OutputBufferLimits.UncountedBytes);

    /// <summary>Bounds the output buffer by what the client may still be sent (<see cref="ReplyAllowance"/>), before replies are added to it.</summary>
    public void BoundOutput() => Output.Limit = (int)Math.Min(Array.MaxLength, (long)Output.Length + ReplyAllowance());

    /// <summary>Cuts the client off for its output, as <see cref="CheckOutputLimit"/> does.</summary>
    public void CloseOverOutputLimit(string why)
    {
        Loop.Server.Log.ClientOverLimit(Id, why);
        Close("output buffer limit");
    }

    /// <summary>
    /// client-output-buffer-limit normal, as Redis checks it when replies are added: over the hard limit the client is
    /// closed at once; over the soft limit it is closed once it has stayed over for more than the soft seconds.
    /// Replies that fit in Redis's fixed reply buffer don't count (<see cref="OutputBufferLimits.Counted"/>).
    /// </summary>
    private void CheckOutputLimit()
    {
        if (Output.Overflowed)
        {
            CloseOverOutputLimit("a reply would have passed client-output-buffer-limit");
            return;
        }

        var used = OutputBufferLimits.Counted(PendingOutput);
        if (used == 0)
        {
            // The common case, decided without reading the config: nothing counts, so no limit is reached.
            _softLimitSinceSec = NotOverSoftLimit;
            return;
        }

        var limit = Loop.Server.Config.NormalOutputLimit;
        if (PendingOutput >= MaxOutputBytes)
        {
            Loop.Server.Log.ClientOverLimit(Id, $"output buffer {PendingOutput} bytes over the {MaxOutputBytes} bytes one client may hold");
            Close("output buffer limit");
            return;
        }

        if (limit.HardBytes > 0 && used >= limit.HardBytes)
        {
            Loop.Server.Log.ClientOverLimit(Id, $"output buffer {PendingOutput} bytes over client-output-buffer-limit hard limit");
            Close("output buffer limit");
            return;
        }

        if (limit.SoftBytes == 0 || used < limit.SoftBytes)
        {
            _softLimitSinceSec = NotOverSoftLimit;
            return;
        }

        var nowMs = Environment.TickCount64;
        var now = nowMs / 1000;
        if (_softLimitSinceSec == NotOverSoftLimit)
        {
            _softLimitSinceSec = now;
        }
        else if (now - _softLimitSinceSec > limit.SoftSeconds)
        {
            Loop.Server.Log.ClientOverLimit(Id, $"output buffer {PendingOutput} bytes over client-output-buffer-limit soft limit for {now - _softLimitSinceSec} s");
            Close("output buffer limit");
            return;
        }

        // Look again once the soft seconds have passed, whether or not another reply comes to trigger a check.
        if (!_outputWatched)
        {
            _outputWatched = true;
            // Soft seconds are kept in an int, as Redis keeps them (OutputBufferLimits.Parse); clamped here too, since a
            // product that overflowed would be a deadline in the past, re-armed every millisecond.
            var soft = Math.Min(limit.SoftSeconds, int.MaxValue);
            Loop.WatchOutput(this, ((_softLimitSinceSec + soft + 1) * 1000) - nowMs);
        }
    }

    /// <summary>The loop's soft-limit check came due (<see cref="ShardLoop.WatchOutput"/>).</summary>
    public void OnOutputWatchDue()
    {
        _outputWatched = false;
        if (!Closed)
        {
            CheckOutputLimit();
        }
    }

    private void Flush() => Flush(Output.Length);

    /// <summary>
    /// A client that always has replies waiting never drains its buffer, which is reset only when empty: the bytes already
    /// sent are dropped from its front once they are at least 1 MB and at least what is left to send, so the buffer
    /// tracks the backlog (each byte is moved at most once on average) instead of growing with all output ever sent.
    /// Nothing else points into the output but <see cref="_holdFrom"/>, which moves with it.
    /// </summary>
    private void DropSentOutput()
    {
        if (Closed || _outSent < 1024 * 1024 || _outSent < PendingOutput)
        {
            return;
        }

        var sent = _outSent;
        Output.Consume(sent);
        _outSent = 0;
        _holdFrom = Math.Max(0, _holdFrom - sent);

        // A megabyte or more went out of it and as much is left: the buffer is in use big.
        NoteBigBuffers();
    }

    /// <summary>
    /// The connection stops counting as a client (maxclients, connected_clients), once: it closed, or it will run nothing
    /// more, has nothing out on another loop and holds a slot for non-client sockets (<see cref="TakeNonClientSlot"/>).
    /// </summary>
    private void LeaveClients()
    {
        if (!_leftClients)
        {
            _leftClients = true;
            Loop.Server.OnClientGone();
        }
    }

    /// <summary>
    /// Takes one of the server's slots for sockets that are no longer clients (lingering, or sending their last replies),
    /// once; false when none is left (BasaltServer.TryStartLinger).
    /// </summary>
    private bool TakeNonClientSlot() => _nonClientSlot || (_nonClientSlot = Loop.Server.TryStartLinger());

    /// <summary>Sends the output up to <paramref name="end"/>; the buffer is reset only once all of it has gone.</summary>
    private void Flush(int end)
    {
        // A connection that will run nothing more leaves the clients before its last replies go, when they are few enough
        // to go at once (LeaveAheadBytes) and a socket slot for non-clients is free: a client that reconnects as soon as
        // it reads the reply to QUIT then finds its slot free. One that leaves more unsent stays a client until it is
        // sent, as in Redis: maxclients bounds how many connections hold output, whatever they sent last.
        if (!_leftClients && _closeAfterReply && _waiting == 0 && _barrierStart < 0 && _pendingProtocolError is null
            && end == Output.Length && end - _outSent <= LeaveAheadBytes && TakeNonClientSlot())
        {
            LeaveClients();
        }

        if (end > OutputPeak)
        {
            OutputPeak = end;
        }

        while (!Closed && _outSent < end)
        {
            nint n;
            fixed (byte* p = Output.WrittenSpan[_outSent..])
            {
                n = Native.send(Fd, p, end - _outSent, Native.MSG_DONTWAIT | Native.MSG_NOSIGNAL);
            }

            if (n > 0)
            {
                LastInteractionMs = Environment.TickCount64;
                Loop.Stats.BytesWritten += n;
                _outSent += (int)n;
                continue;
            }

            var errno = System.Runtime.InteropServices.Marshal.GetLastPInvokeError();
            if (n < 0 && errno == Native.EINTR)
            {
                continue;
            }

            if (n < 0 && errno == Native.EAGAIN)
            {
                CheckOutputLimit();
                if (!Closed && !_wantsWritable)
                {
                    _wantsWritable = true;
                    Loop.WantWritable(this, true);
                }

                DropSentOutput();
                return;
            }

            Close($"write error errno {errno}");
            return;
        }

        if (!Closed && PendingOutput == 0)
        {
            if (_wantsWritable)
            {
                _wantsWritable = false;
                Loop.WantWritable(this, false);

                // A failed epoll_ctl closes the connection: nothing below may run on it (its descriptor may be reused).
                if (Closed)
                {
                    return;
                }
            }

            // Drained: no longer over the soft output limit, whatever comes next. The buffer counts as used big only if
            // this output needed it: one that was grown once must not stay pinned by every small reply after.
            _softLimitSinceSec = NotOverSoftLimit;
            var used = Output.Length;
            Output.Clear();
            _outSent = 0;
            _holdFrom = 0;
            if (used > BufferPool.MaxPooled)
            {
                NoteBigBuffers();
            }

            if (_closeAfterReply && _waiting == 0 && _barrierStart < 0 && _pendingProtocolError is null)
            {
                FinishReplies();
            }
        }
    }
}
