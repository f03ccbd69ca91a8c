using Basalt.Engine.Keyspace;
using Basalt.Protocol;

namespace Basalt.Engine.Commands;

/// <summary>
/// MGET over several shards (on one shard it is a keyed command: <see cref="OnOneShard"/>). Each shard writes the values
/// of its own keys, already in reply form, into a buffer of its own (invariant 1: the coordinator never reads another
/// shard's values), and the coordinator copies them out in key order. A buffer past 1 MB is a mapping of its own,
/// unmapped once the reply is written (<see cref="Release"/>): copies of the values made on the managed heap stayed
/// there until a collection, which an idle server never runs (5 MGETs of a 512 MB value over 4 shards left 4 GB
/// resident). Buffers up to 1 KB stay with the op, which its connection reuses for its next MGET.
/// </summary>
internal sealed class MGetOp : ShardOp
{
    // A shard's part up to this size stays with the op for its next use; a bigger one is given back with the reply.
    private const int KeptPart = 1024;

    // Each shard's reply bytes for its found keys, and for each key its bulk's start and end there (an end of 0 is a key
    // not found: a bulk is never empty).
    private ReplyBuffer?[]? _parts;
    private int[]? _bounds;

    public MGetOp(in OpRequest r)
        : base(r) => Setup();

    public override bool SinglePhase => true;

    public override bool KeyScoped => true;

    public override bool Reusable => true;

    protected override void Prepare() => Setup();

    private void Setup()
    {
        RouteKeys(1, 1);
        if (_parts is null || _parts.Length != Slots.ShardCount)
        {
            _parts = new ReplyBuffer?[Slots.ShardCount];
        }

        Cleared(ref _bounds, 2 * Args.Count);
    }

    public override void Run(ShardStore store, int phase)
    {
        if (Budget is { Exceeded: true })
        {
            // Other parts of this op, or of ops batched with it, already built what the client may hold.
            throw new OutputLimitException("the replies built for the client passed its output limit");
        }

        var db = store.Dbs[Db];
        ReplyBuffer? part = null;
        for (var i = 1; i < Args.Count; i++)
        {
            if (!Owns(store, i))
            {
                continue;
            }

            var e = db.Read(Args[i], KeyHashOf(i), NowMs);
            if (e is not { IsString: true })
            {
                continue;
            }

            if (part is null)
            {
                // This shard's own slot: it alone writes it during the phase.
                part = _parts![store.ShardId] ??= new ReplyBuffer(256);
                part.Clear();
                part.Limit = Budget?.Room(ReplyLimit) ?? ReplyLimit;
            }

            _bounds![2 * i] = part.Length;
            try
            {
                part.Bulk(e.StringBytes);
            }
            catch (OutputLimitException)
            {
                // Past its room: the ops sharing the budget build nothing more either, and this one fails.
                Budget?.Exceed();
                throw;
            }

            _bounds[(2 * i) + 1] = part.Length;
        }

        if (part is not null && Budget is { } budget && !budget.Add(part.Length))
        {
            throw new OutputLimitException($"the replies built for the client passed its output limit with {part.Length} bytes here");
        }
    }

    public override void Reply(ReplyBuffer reply)
    {
        reply.ArrayHeader(Args.Count - 1);
        for (var i = 1; i < Args.Count; i++)
        {
            var end = _bounds![(2 * i) + 1];
            if (end == 0)
            {
                reply.NullBulk();
            }
            else
            {
                reply.WriteRaw(_parts![ShardOf(i)]!.WrittenSpan[_bounds[2 * i]..end]);
            }
        }
    }

    /// <summary>MGET with every key on one shard (<see cref="CommandSpec.OnOneShard"/>): each value read as it is replied.</summary>
    public static void OnOneShard(ref CommandContext ctx)
    {
        ctx.Reply.ArrayHeader(ctx.Args.Count - 1);
        for (var i = 1; i < ctx.Args.Count; i++)
        {
            if (ctx.Db.Read(ctx.Args[i], ctx.NowMs) is { IsString: true } e)
            {
                ctx.Reply.Bulk(e.StringBytes);
            }
            else
            {
                ctx.Reply.NullBulk();
            }
        }
    }

    public override void Release()
    {
        if (_parts is null)
        {
            return;
        }

        for (var i = 0; i < _parts.Length; i++)
        {
            if (_parts[i] is { Capacity: > KeptPart } big)
            {
                big.Dispose();
                _parts[i] = null;
            }
        }
    }

    protected override void Retiring() => Shed(ref _bounds);

    public override void Discard()
    {
        if (_parts is null)
        {
            return;
        }

        for (var i = 0; i < _parts.Length; i++)
        {
            _parts[i]?.Dispose();
            _parts[i] = null;
        }
    }
}

/// <summary>MSET and MSETNX. MSETNX first checks every key on every shard, then sets only if none exists.</summary>
internal sealed class MSetOp : ShardOp
{
    private readonly bool _nx;
    private bool[]? _exists;
    private bool _abort;

    public MSetOp(in OpRequest r, bool onlyIfNoneExist)
        : base(r)
    {
        _nx = onlyIfNoneExist;
        Setup();
    }

    public override bool SinglePhase => !_nx;

    public override bool KeyScoped => true;

    public override bool Reusable => true;

    protected override void Prepare() => Setup();

    private void Setup()
    {
        _abort = false;
        if (_nx)
        {
            Cleared(ref _exists, Args.Count);
        }

        if (Args.Count % 2 == 0)
        {
            EarlyError = Errors.WrongArity(Spec.Name);
            return;
        }

        RouteKeys(1, 2);
    }

    protected override void Retiring() => Shed(ref _exists);

    /// <summary>MSET with every key on one shard (<see cref="CommandSpec.OnOneShard"/>).</summary>
    public static void MSetOnOneShard(ref CommandContext ctx) => SetOnOneShard(ref ctx, onlyIfNoneExist: false);

    /// <summary>
    /// MSETNX with every key on one shard. As in Redis, the keys are looked up (an access each) in order until one
    /// exists; the op, whose shards look theirs up side by side, looks up every key (docs/compatibility.md).
    /// </summary>
    public static void MSetNxOnOneShard(ref CommandContext ctx) => SetOnOneShard(ref ctx, onlyIfNoneExist: true);

    private static void SetOnOneShard(ref CommandContext ctx, bool onlyIfNoneExist)
    {
        var args = ctx.Args;
        if (args.Count % 2 == 0)
        {
            ctx.Reply.Error(Errors.WrongArity(ctx.Spec.Name));
            return;
        }

        if (onlyIfNoneExist)
        {
            for (var i = 1; i < args.Count; i += 2)
            {
                if (ctx.Db.Touch(args[i], ctx.NowMs) is not null)
                {
                    ctx.Reply.Integer(0);
                    return;
                }
            }
        }

        for (var i = 1; i < args.Count; i += 2)
        {
            ctx.Db.SetString(args[i], args[i + 1], -1, keepTtl: false, ctx.NowMs);
        }

        if (onlyIfNoneExist)
        {
            ctx.Reply.Integer(1);
        }
        else
        {
            ctx.Reply.Ok();
        }
    }

    public override void Run(ShardStore store, int phase)
    {
        var db = store.Dbs[Db];
        var checking = _nx && phase == 0;
        for (var i = 1; i < Args.Count; i += 2)
        {
            if (!Owns(store, i))
            {
                continue;
            }

            if (checking)
            {
                _exists![i] = db.Touch(Args[i], KeyHashOf(i), NowMs) is not null; // lookupKeyWrite: an access even if MSETNX fails
            }
            else
            {
                db.SetString(Args[i], KeyHashOf(i), Args[i + 1], -1, keepTtl: false, NowMs);
            }
        }
    }

    public override bool Continue(int phase)
    {
        if (!_nx || phase > 0)
        {
            return false;
        }

        _abort = Array.IndexOf(_exists!, true) >= 0;
        return !_abort;
    }

    public override void Reply(ReplyBuffer reply)
    {
        if (_nx)
        {
            reply.Integer(_abort ? 0 : 1);
        }
        else
        {
            reply.Ok();
        }
    }
}

/// <summary>LCS: phase 0 fetches both strings (each on its own shard); the coordinator computes.</summary>
internal sealed class LcsOp : ShardOp
{
    private readonly byte[]?[] _values = new byte[]?[3];
    private readonly bool[] _wrongType = new bool[3];
    private long _maxBulk = ProtocolLimits.Default.MaxBulkLength;

    public LcsOp(in OpRequest r)
        : base(r) => RouteKeys(1, 1, 2);

    public override bool SinglePhase => true;

    public override bool KeyScoped => true;

    public override void Run(ShardStore store, int phase)
    {
        var db = store.Dbs[Db];
        _maxBulk = store.Limits.MaxBulkLength;
        for (var i = 1; i <= 2; i++)
        {
            if (Owns(store, i))
            {
                var e = db.Read(Args[i], KeyHashOf(i), NowMs);
                _wrongType[i] = e is not null && !e.IsString;
                _values[i] = e is not { IsString: true } ? [] : e.Value is byte[] exact && Shards.Length == 1 ? exact : e.StringCopy();
            }
        }
    }

    public override void Reply(ReplyBuffer reply)
    {
        if (_wrongType[1] || _wrongType[2])
        {
            reply.Error("ERR The specified keys must contain string values");
            return;
        }

        Lcs.Reply(Args, _values[1]!, _values[2]!, reply, _maxBulk);
    }
}
