using System.Diagnostics;
using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using Basalt.Server.Net;

namespace Basalt.Server.Shards;

/// <summary>
/// A unit of work posted to a shard loop's inbox. A message is owned by exactly one queue at a time;
/// requests flip into their own completions and travel back, so steady-state traffic allocates nothing.
/// </summary>
internal abstract class ShardWork
{
    /// <summary>
    /// True for work that must run even while the shard is held by a multi-shard op: completions
    /// (they touch no data) and the holder's own steps. Everything else waits in the shard's FIFO.
    /// </summary>
    public abstract bool BypassesHold(ShardLoop loop);

    /// <summary>True when this work may run on <paramref name="loop"/> now, given who holds it. By default: only when nothing does.</summary>
    public virtual bool Admissible(ShardLoop loop) => !loop.Locks.Any;

    public abstract void Execute(ShardLoop loop);
}

/// <summary>
/// The commands of one pipeline batch that target one shard, executed there in request order.
/// Their replies are written into <see cref="Replies"/>; the connection merges them back into
/// request order once every group of the batch has returned.
///
/// A group can also carry the connection's write turn (<see cref="HandedOff"/>): when it is the whole
/// batch, nothing else is waiting to be sent and nothing more is to be read, the target sends the replies
/// itself and returns the group without a wake (ShardLoop.PostQuiet). The connection still has one writer
/// at a time (invariant 2): its owner writes nothing while the group is out, and the group's return
/// hands the turn back. What the target could not send travels back and is sent by the owner.
/// </summary>
internal sealed unsafe class CommandGroup : ShardWork
{
    private CommandSpec[] _specs = new CommandSpec[16];
    private int[] _argStart = new int[16];
    private int[] _argCount = new int[16];

    public CommandGroup(Connection owner, int target)
    {
        Owner = owner;
        Target = target;
    }

    public Connection Owner { get; }

    public int Target { get; }

    public int Count { get; private set; }

    public bool Returning { get; private set; }

    public ReplyBuffer Replies { get; } = new(1024);

    /// <summary>End offset in <see cref="Replies"/> of each command's reply.</summary>
    public int[] ReplyEnds { get; private set; } = new int[16];

    // Captured at dispatch: the request bytes and arg positions stay untouched until the group returns.
    private byte[] _buffer = [];
    private int[] _offsets = [];
    private int[] _lengths = [];
    private int _db;
    private bool _noTouch;
    private long _outputLimit;
    private BatchBudget? _budget;
    private int _accounted;
    private int _writeFd = -1;
    private int _ownerWaiting;

    /// <summary>The target holds the connection's write turn and sends the replies itself.</summary>
    public bool HandedOff => _writeFd >= 0;

    /// <summary>How many bytes of <see cref="Replies"/> the target sent when handed off; the owner sends the rest.</summary>
    public int SentBytes { get; private set; }

    /// <summary>The owner wants a handed-off group back at once (read by the target after it returns the group).</summary>
    public bool OwnerWaiting => Volatile.Read(ref _ownerWaiting) != 0;

    /// <summary>
    /// Called by the owner when it needs the group back before its client speaks again: the client already
    /// did (its next request is readable), or the connection is closing. Interlocked, so it is ordered
    /// before the owner's park re-checks its quiet inbox (ShardLoop.PostQuiet).
    /// </summary>
    public void OwnerWaits() => Interlocked.Exchange(ref _ownerWaiting, 1);

    public int Add(CommandSpec spec, int argStart, int argCount)
    {
        if (Count == _specs.Length)
        {
            Array.Resize(ref _specs, Count * 2);
            Array.Resize(ref _argStart, Count * 2);
            Array.Resize(ref _argCount, Count * 2);
            var ends = ReplyEnds;
            Array.Resize(ref ends, Count * 2);
            ReplyEnds = ends;
        }

        _specs[Count] = spec;
        _argStart[Count] = argStart;
        _argCount[Count] = argCount;
        return Count++;
    }

    /// <summary>The command at <paramref name="ordinal"/>, added and not yet sent.</summary>
    public (CommandSpec Spec, int ArgStart, int ArgCount) Entry(int ordinal) => (_specs[ordinal], _argStart[ordinal], _argCount[ordinal]);

    /// <summary>True when the replies passed the client's output limit and the rest of the group was not run.</summary>
    public bool Overflowed { get; private set; }

    /// <param name="outputLimit">The replies the batch may still add before its client is cut off.</param>
    /// <param name="budget">Shared by the batch's groups when there are several, so the limit holds for their sum.</param>
    /// <param name="writeFd">The connection's socket when the write turn is handed off, else -1.</param>
    public void Prepare(byte[] buffer, ArgList args, int db, int protocol, bool noTouch, long outputLimit, BatchBudget? budget, int writeFd)
    {
        _budget = budget;
        _accounted = 0;
        _writeFd = writeFd;
        _ownerWaiting = 0;
        SentBytes = 0;
        _outputLimit = outputLimit;
        Overflowed = false;
        _buffer = buffer;
        _offsets = args.Offsets;
        _lengths = args.Lengths;
        _db = db;
        _noTouch = noTouch;
        Replies.Protocol = protocol;
        Replies.Clear();
        Replies.Limit = outputLimit > 0 ? (int)Math.Min(Array.MaxLength, outputLimit + OutputBufferLimits.UncountedBytes) : int.MaxValue;
        Returning = false;
    }

    public void Reset()
    {
        Count = 0;
        Replies.Clear();

        // A big (mapped) buffer is kept for the next batch; its connection gives it back once unused (Connection.OnTrimDue).
        if (Replies.Capacity <= BufferPool.MaxPooled)
        {
            Replies.Shrink(64 * 1024);
        }

        Returning = false;
        Array.Clear(_specs, 0, _specs.Length);

        // The connection's input and argument tables may be given back once this batch is answered (Connection.OnTrimDue):
        // a group that kept pointing at them kept a 100 MB input buffer alive after a client's one big SET.
        _buffer = [];
        _offsets = [];
        _lengths = [];
    }

    public override bool BypassesHold(ShardLoop loop) => Returning;

    /// <summary>A group may run beside key holds as long as none of its commands' keys is held.</summary>
    public override bool Admissible(ShardLoop loop)
    {
        var locks = loop.Locks;
        if (!locks.Any)
        {
            return true;
        }

        if (locks.Exclusive is not null)
        {
            return false;
        }

        for (var i = 0; i < Count; i++)
        {
            if (!locks.KeysFree(_specs[i], new ArgView(_buffer, _offsets, _lengths, _argStart[i], _argCount[i]), _db))
            {
                return false;
            }
        }

        return true;
    }

    public override void Execute(ShardLoop loop)
    {
        if (Returning)
        {
            Returning = false;
            Owner.OnGroupDone(this);
            return;
        }

        var prefetch = default(LookupPrefetch);
        var table = loop.Store.Dbs[_db].Table;
        var clock = Stopwatch.GetTimestamp();
        for (var i = 0; i < Count; i++)
        {
            if (i % LookupPrefetch.Capacity == 0 && Count > 1)
            {
                Prefetch(ref prefetch, table, i);
            }

            // Bounded like the connection's own output: past the client's limit, stop; the client is closed.
            if (Replies.Overflowed || (_outputLimit > 0 && OutputLimitReached()))
            {
                Overflowed = true;
                ReplyEnds[i] = Replies.Length;
                continue;
            }

            var args = new ArgView(_buffer, _offsets, _lengths, _argStart[i], _argCount[i]);
            clock = loop.ExecuteKeyedFrom(clock, _specs[i], args, Replies, _db, _noTouch);
            ReplyEnds[i] = Replies.Length;
        }

        // A reply that would have passed the limit was dropped (ExecuteKeyed): its client is cut off, not answered short.
        Overflowed |= Replies.Overflowed;
        Returning = true;
        if (HandedOff && !Overflowed && SendReplies(loop))
        {
            Owner.Loop.PostQuiet(this);
            return;
        }

        // Only the last group of the batch to finish goes home, for all of them: a batch over k shards then costs its
        // home loop's inbox one message, not k (the inbox is sized for one per connection).
        if (Owner.GroupFinished())
        {
            Owner.Loop.PostOrRun(this);
        }
    }

    /// <summary>
    /// Whether the batch's replies reached its allowance. With several groups (on several loops at once) the sum counts:
    /// each adds its growth to the shared budget once it is 64 KB or more, so the check costs an interlocked add per
    /// 64 KB of replies, not per command; the owner checks the exact sum when the groups are back.
    /// </summary>
    private bool OutputLimitReached()
    {
        var length = Replies.Length;
        if (_budget is null)
        {
            return OutputBufferLimits.Counted(length) >= _outputLimit;
        }

        if (length - _accounted >= 64 * 1024)
        {
            Interlocked.Add(ref _budget.Used, length - _accounted);
            _accounted = length;
        }

        return OutputBufferLimits.Counted(Volatile.Read(ref _budget.Used) + (length - _accounted)) >= _outputLimit;
    }

    /// <summary>Sends the replies on the owner's socket without blocking. True when all of them left.</summary>
    private bool SendReplies(ShardLoop loop)
    {
        while (SentBytes < Replies.Length)
        {
            nint n;
            fixed (byte* p = Replies.WrittenSpan[SentBytes..])
            {
                n = Native.send(_writeFd, p, Replies.Length - SentBytes, Native.MSG_DONTWAIT | Native.MSG_NOSIGNAL);
            }

            if (n > 0)
            {
                loop.Stats.BytesWritten += n;
                SentBytes += (int)n;
                continue;
            }

            // EAGAIN, EINTR or an error: the owner sends the rest, waits for EPOLLOUT or sees the error itself.
            return false;
        }

        return true;
    }

    /// <summary>Prefetches the key lookups of the next commands from <paramref name="from"/>, so their cache misses overlap.</summary>
    private void Prefetch(ref LookupPrefetch prefetch, KeyTable table, int from)
    {
        var end = Math.Min(Count, from + LookupPrefetch.Capacity);
        for (var i = from; i < end; i++)
        {
            if (_specs[i].FirstKey > 0)
            {
                prefetch.Add(new ArgView(_buffer, _offsets, _lengths, _argStart[i], _argCount[i])[_specs[i].FirstKey]);
            }
        }

        prefetch.Run(table);
    }
}

/// <summary>Arbitrary work for a loop, e.g. registering a new connection. Not used on the data path.</summary>
internal sealed class LoopAction(Action<ShardLoop> action, bool bypassesHold = true) : ShardWork
{
    public override bool BypassesHold(ShardLoop loop) => bypassesHold;

    public override void Execute(ShardLoop loop) => action(loop);
}

/// <summary>The reply bytes a batch's groups have built between them, added from each group's loop (CommandGroup.OutputLimitReached).</summary>
internal sealed class BatchBudget
{
    public long Used;

    public void Reset() => Volatile.Write(ref Used, 0);
}
