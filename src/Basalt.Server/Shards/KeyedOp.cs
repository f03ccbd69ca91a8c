using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;

namespace Basalt.Server.Shards;

/// <summary>
/// A keyed command (GET, SET, INCR…) run as an op of a batch (<see cref="OpRun.StartBatch"/>), so that a pipeline mixing
/// keyed commands with multi-key commands over several shards is not cut into a round trip at each change. It runs on its
/// key's shard, under the batch's holds and in its place among the batch's ops, through the same handler a group runs it
/// with (<see cref="ShardLoop.ExecuteKeyedFrom"/>, which counts it there), into a reply buffer of its own that the coordinator
/// copies out in request order. A connection keeps retired ones for its next batch, whatever their commands.
/// </summary>
internal sealed class KeyedOp : ShardOp
{
    // A reply buffer up to this size stays with the op for its next use; a bigger one is given back once copied out.
    private const int KeptReply = 1024;

    private ReplyBuffer? _reply;

    public KeyedOp(in OpRequest request)
        : base(request) => Route();

    /// <summary>The client's protocol (2 or 3), which the reply is written in; set by the connection with each request.</summary>
    public int Protocol { get; set; }

    public override bool SinglePhase => true;

    public override bool KeyScoped => true;

    public override bool Reusable => true;

    public override bool CountsItself => true;

    /// <summary>
    /// Whether a call of <paramref name="spec"/> may run as a KeyedOp: a keyed command with keys, all in the op's database.
    /// Not MOVE, which also writes its key in another database, where the batch holds nothing.
    /// </summary>
    public static bool Takes(CommandSpec spec) => spec.Kind == CommandKind.Keyed && spec.HasKeys && spec.OtherDbArg == 0;

    protected override bool ReusableFor(CommandSpec spec) => Takes(spec);

    protected override void Prepare() => Route();

    private void Route()
    {
        if (Spec.TryGetKeyRange(Args.Count, out var first, out var last, out var step))
        {
            RouteKeys(first, step, last);
        }
        else
        {
            Shards = [];
        }
    }

    /// <summary>
    /// Runs the command on <paramref name="loop"/>, its key's shard, unless the batch's replies already passed what the
    /// client may hold. Its time is counted from <paramref name="start"/>; returns the timestamp it ends at, which the
    /// batch's next op on this shard starts from (<see cref="ShardLoop.ExecuteKeyedFrom"/>).
    /// </summary>
    public long RunOn(ShardLoop loop, long start)
    {
        if (Budget is { Exceeded: true })
        {
            Fail(new OutputLimitException("the replies built for the client passed its output limit"));
            return start;
        }

        var reply = _reply ??= new ReplyBuffer(256);
        reply.Clear();
        reply.Protocol = Protocol;
        reply.Limit = Budget?.Room(ReplyLimit) ?? ReplyLimit;
        var end = loop.ExecuteKeyedFrom(start, Spec, Args, reply, Db, NoTouch);
        if (reply.Overflowed)
        {
            Budget?.Exceed();
        }

        if (reply.Overflowed || (Budget is { } budget && !budget.Add(reply.Length)))
        {
            Fail(new OutputLimitException($"a reply of {reply.Length} bytes passed the client's output limit"));
        }

        return end;
    }

    public override void Run(ShardStore store, int phase) => throw new InvalidOperationException("a KeyedOp runs on its loop (RunOn)");

    public override void Reply(ReplyBuffer reply) => reply.WriteRaw(_reply!.WrittenSpan);

    public override void Release()
    {
        if (_reply is { Capacity: > KeptReply } big)
        {
            big.Dispose();
            _reply = null;
        }
    }

    public override void Discard()
    {
        _reply?.Dispose();
        _reply = null;
    }
}
