using Basalt.Engine.Keyspace;
using Basalt.Protocol;

namespace Basalt.Engine.Commands;

/// <summary>MGET: each shard reads its own keys into their slots; the coordinator replies in key order.</summary>
internal sealed class MGetOp : ShardOp
{
    public override bool SinglePhase => true;

    public override bool KeyScoped => true;

    private readonly byte[]?[] _values;

    public MGetOp(in OpRequest r)
        : base(r)
    {
        _values = new byte[]?[Args.Count];
        RouteKeys(1, 1);
    }

    public override void Run(ShardStore store, int phase)
    {
        var db = store.Dbs[Db];
        for (var i = 1; i < Args.Count; i++)
        {
            if (Owns(store, i))
            {
                // Across shards the reply is written on the coordinator's thread, so it gets a copy
                // (invariant 1: no thread reads another shard's values).
                var e = db.Read(Args[i], NowMs);
                _values[i] = e?.Value is byte[] s ? (Shards.Length > 1 ? (byte[])s.Clone() : s) : null;
            }
        }
    }

    public override void Reply(ReplyBuffer reply)
    {
        reply.ArrayHeader(Args.Count - 1);
        for (var i = 1; i < Args.Count; i++)
        {
            if (_values[i] is { } v)
            {
                reply.Bulk(v);
            }
            else
            {
                reply.NullBulk();
            }
        }
    }
}

/// <summary>MSET and MSETNX. MSETNX first checks every key on every shard, then sets only if none exists.</summary>
internal sealed class MSetOp : ShardOp
{
    private readonly bool _nx;
    private readonly bool[] _exists;

    public override bool SinglePhase => !_nx;

    public override bool KeyScoped => true;
    private bool _abort;

    public MSetOp(in OpRequest r, bool onlyIfNoneExist)
        : base(r)
    {
        _nx = onlyIfNoneExist;
        _exists = new bool[Args.Count];
        if (Args.Count % 2 == 0)
        {
            EarlyError = Errors.WrongArity(Spec.Name);
            return;
        }

        RouteKeys(1, 2);
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
                _exists[i] = db.Touch(Args[i], NowMs) is not null; // lookupKeyWrite: an access even if MSETNX fails
            }
            else
            {
                db.SetString(Args[i], Args[i + 1], -1, keepTtl: false, NowMs);
            }
        }
    }

    public override bool Continue(int phase)
    {
        if (!_nx || phase > 0)
        {
            return false;
        }

        _abort = Array.IndexOf(_exists, true) >= 0;
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
                var e = db.Read(Args[i], NowMs);
                _wrongType[i] = e is not null && e.Value is not byte[];
                _values[i] = e?.Value is byte[] s ? (Shards.Length > 1 ? (byte[])s.Clone() : s) : [];
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
