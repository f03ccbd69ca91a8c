using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;

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
/// </summary>
internal sealed class CommandGroup : ShardWork
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

    /// <summary>True when the replies passed the client's output limit and the rest of the group was not run.</summary>
    public bool Overflowed { get; private set; }

    public void Prepare(byte[] buffer, ArgList args, int db, int protocol, bool noTouch, long outputLimit)
    {
        _outputLimit = outputLimit;
        Overflowed = false;
        _buffer = buffer;
        _offsets = args.Offsets;
        _lengths = args.Lengths;
        _db = db;
        _noTouch = noTouch;
        Replies.Protocol = protocol;
        Replies.Clear();
        Returning = false;
    }

    public void Reset()
    {
        Count = 0;
        Replies.Clear();
        Replies.Shrink(64 * 1024);
        Returning = false;
        Array.Clear(_specs, 0, _specs.Length);
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
        for (var i = 0; i < Count; i++)
        {
            if (i % LookupPrefetch.Capacity == 0 && Count > 1)
            {
                Prefetch(ref prefetch, table, i);
            }

            // Bounded like the connection's own output: past the client's limit, stop; the client is closed.
            if (Replies.Length > _outputLimit)
            {
                Overflowed = true;
                ReplyEnds[i] = Replies.Length;
                continue;
            }

            var args = new ArgView(_buffer, _offsets, _lengths, _argStart[i], _argCount[i]);
            loop.ExecuteKeyed(_specs[i], args, Replies, _db, _noTouch);
            ReplyEnds[i] = Replies.Length;
        }

        Returning = true;
        Owner.Loop.PostOrRun(this);
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
