using System.Text;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Engine.Commands;

/// <summary>Key commands whose keys may span shards: DEL UNLINK EXISTS TOUCH RENAME RENAMENX COPY.</summary>
internal static class MultiKeyOps
{
    public static void Register(CommandTable t)
    {
        Multi(t, "del", -2, CommandFlags.Write, AclCategories.Write | AclCategories.Slow, 1, -1, static (in OpRequest r) => new CountOp(r, CountOp.Mode.Delete), "Deletes one or more keys.", oneShard: CountOp.DeleteOnOneShard);
        Multi(t, "unlink", -2, CommandFlags.Write | CommandFlags.Fast, AclCategories.Write | AclCategories.Fast, 1, -1, static (in OpRequest r) => new CountOp(r, CountOp.Mode.Delete), "Asynchronously deletes one or more keys.", since: "4.0.0", oneShard: CountOp.DeleteOnOneShard);
        Multi(t, "exists", -2, CommandFlags.ReadOnly | CommandFlags.Fast, AclCategories.Read | AclCategories.Fast, 1, -1, static (in OpRequest r) => new CountOp(r, CountOp.Mode.Exists), "Determines whether one or more keys exist.", oneShard: CountOp.ExistsOnOneShard);
        Multi(t, "touch", -2, CommandFlags.ReadOnly | CommandFlags.Fast, AclCategories.Read | AclCategories.Fast, 1, -1, static (in OpRequest r) => new CountOp(r, CountOp.Mode.Touch), "Returns the number of existing keys out of those specified after updating the time they were last accessed.", since: "3.2.1", oneShard: CountOp.TouchOnOneShard);
        Multi(t, "rename", 3, CommandFlags.Write, AclCategories.Write | AclCategories.Slow, 1, 2, static (in OpRequest r) => new RenameOp(r, nx: false), "Renames a key and overwrites the destination.");
        Multi(t, "renamenx", 3, CommandFlags.Write | CommandFlags.Fast, AclCategories.Write | AclCategories.Fast, 1, 2, static (in OpRequest r) => new RenameOp(r, nx: true), "Renames a key only when the target key name doesn't exist.");
        Multi(t, "copy", -3, CommandFlags.Write | CommandFlags.DenyOom, AclCategories.Write | AclCategories.Slow, 1, 2, static (in OpRequest r) => new CopyOp(r), "Copies the value of a key to a new key.", since: "6.2.0");
    }

    private static void Multi(CommandTable t, string name, int arity, CommandFlags flags, AclCategories acl, int first, int last, OpFactory factory, string summary, string since = "1.0.0", KeyedHandler? oneShard = null) =>
        t.Add(new CommandSpec
        {
            Name = name,
            Arity = arity,
            Flags = flags,
            FirstKey = first,
            LastKey = last,
            KeyStep = 1,
            Acl = acl | AclCategories.Keyspace,
            Kind = CommandKind.Multi,
            CreateOp = factory,
            OnOneShard = oneShard,
            Summary = summary,
            Since = since,
        });
}

/// <summary>DEL/UNLINK/EXISTS/TOUCH: each shard counts its own keys (duplicates count again, like Redis).</summary>
internal sealed class CountOp : ShardOp
{
    public override bool SinglePhase => true;

    public override bool KeyScoped => true;

    private readonly Mode _mode;
    private long[]? _counts;

    public CountOp(in OpRequest r, Mode mode)
        : base(r)
    {
        _mode = mode;
        Setup();
    }

    public override bool Reusable => true;

    public enum Mode
    {
        Delete,
        Exists,
        Touch,
    }

    protected override void Prepare() => Setup();

    private void Setup()
    {
        Cleared(ref _counts, Slots.ShardCount);
        RouteKeys(1, 1);

        // TOUCH is the one command that updates access times under CLIENT NO-TOUCH too (Redis 7.2).
        if (_mode == Mode.Touch)
        {
            NoTouch = false;
        }
    }

    public override void Run(ShardStore store, int phase)
    {
        var db = store.Dbs[Db];
        long n = 0;
        for (var i = 1; i < Args.Count; i++)
        {
            if (Owns(store, i) && Found(_mode, db, Args[i], KeyHashOf(i), NowMs))
            {
                n++;
            }
        }

        _counts![store.ShardId] = n;
    }

    /// <summary>DEL and UNLINK with every key on one shard (<see cref="CommandSpec.OnOneShard"/>).</summary>
    public static void DeleteOnOneShard(ref CommandContext ctx) => CountOnOneShard(ref ctx, Mode.Delete);

    /// <summary>EXISTS with every key on one shard.</summary>
    public static void ExistsOnOneShard(ref CommandContext ctx) => CountOnOneShard(ref ctx, Mode.Exists);

    /// <summary>TOUCH with every key on one shard: it updates access times under CLIENT NO-TOUCH too, as the op does.</summary>
    public static void TouchOnOneShard(ref CommandContext ctx)
    {
        ctx.Store.NoTouch = false;
        CountOnOneShard(ref ctx, Mode.Touch);
    }

    private static void CountOnOneShard(ref CommandContext ctx, Mode mode)
    {
        long n = 0;
        for (var i = 1; i < ctx.Args.Count; i++)
        {
            if (Found(mode, ctx.Db, ctx.Args[i], KeyHash.Of(ctx.Args[i]), ctx.NowMs))
            {
                n++;
            }
        }

        ctx.Reply.Integer(n);
    }

    /// <summary>One key's part: deleted, or found (touched or not), as the mode says.</summary>
    private static bool Found(Mode mode, Database db, ReadOnlySpan<byte> key, ulong hash, long nowMs) => mode switch
    {
        Mode.Delete => db.Delete(key, hash, nowMs),
        Mode.Touch => db.Read(key, hash, nowMs) is not null,
        _ => db.Read(key, hash, nowMs, touch: false) is not null,
    };

    public override void Reply(ReplyBuffer reply)
    {
        long total = 0;
        for (var s = 0; s < Slots.ShardCount; s++)
        {
            total += _counts![s];
        }

        reply.Integer(total);
    }
}

/// <summary>
/// RENAME/RENAMENX. Phase 0 looks at source and destination, phase 1 takes the source out,
/// phase 2 puts it in place at the destination. The value object moves; nothing is copied.
/// </summary>
internal sealed class RenameOp : ShardOp
{
    private readonly bool _nx;
    private readonly bool _sameKey;
    private bool _srcFound;
    private bool _dstFound;
    private object? _value;
    private StringEncoding _encoding;
    private long _expireAt;
    private long _idleSec; // the source's idle time: zero unless CLIENT NO-TOUCH kept the lookup from restarting it
    private int _outcome; // 0 ok, 1 no such key, 2 not renamed (nx)

    public RenameOp(in OpRequest r, bool nx)
        : base(r)
    {
        _nx = nx;
        _sameKey = Args[1].SequenceEqual(Args[2]);
        RouteKeys(1, 1, 2);
    }

    public override bool KeyScoped => true;

    public override void Run(ShardStore store, int phase)
    {
        var db = store.Dbs[Db];
        switch (phase)
        {
            case 0:
                // Both lookups are Redis's lookupKeyWrite, which counts an access even when the command then fails
                // (RENAMENX onto an existing key). Redis looks the destination up only once the source is found; the
                // two may be on different shards here, so the destination's access is counted either way.
                if (Owns(store, 1))
                {
                    _srcFound = db.Touch(Args[1], KeyHashOf(1), NowMs) is not null;
                }

                if (Owns(store, 2))
                {
                    _dstFound = db.Touch(Args[2], KeyHashOf(2), NowMs) is not null;
                }

                break;
            case 1:
                if (Owns(store, 1))
                {
                    var e = db.Find(Args[1], KeyHashOf(1), NowMs)!;
                    (_value, _encoding, _expireAt, _idleSec) = (e.Value, e.Encoding, e.ExpireAtMs, store.LruClockSec - e.LastAccessSec);
                    db.Remove(e, valueMoves: true);
                }

                break;
            default:
                if (Owns(store, 2))
                {
                    db.Delete(Args[2], KeyHashOf(2), NowMs);
                    db.Insert(Args.ToArray(2), _value!, _encoding, _expireAt, _idleSec);
                }

                break;
        }
    }

    public override bool Continue(int phase)
    {
        if (phase == 0)
        {
            _outcome = !_srcFound ? 1 : (_sameKey || (_nx && _dstFound)) ? 2 : 0;
            return _outcome == 0;
        }

        return phase == 1;
    }

    public override void Reply(ReplyBuffer reply)
    {
        if (_outcome == 1)
        {
            reply.Error(Errors.NoSuchKey);
        }
        else if (_nx)
        {
            reply.Integer(_outcome == 0 ? 1 : 0);
        }
        else
        {
            reply.Ok();
        }
    }
}

/// <summary>COPY src dst [DB n] [REPLACE]. Phase 0 clones the source on its shard; phase 1 stores it.</summary>
internal sealed class CopyOp : ShardOp
{
    private readonly int _dstDb;
    private readonly bool _replace;
    private bool _dstFound;
    private object? _clone;
    private StringEncoding _encoding;
    private long _expireAt;
    private bool _copied;

    public CopyOp(in OpRequest r)
        : base(r)
    {
        _dstDb = Db;
        for (var i = 3; i < Args.Count; i++)
        {
            if (Is(Args[i], "REPLACE"u8))
            {
                _replace = true;
            }
            else if (Is(Args[i], "DB"u8) && i + 1 < Args.Count)
            {
                var error = Errors.IntArgument(Args[++i], out var db);
                if (!error.IsEmpty)
                {
                    EarlyError = Encoding.ASCII.GetString(error);
                    return;
                }

                if (db < 0 || db >= DatabaseCount)
                {
                    EarlyError = "ERR DB index is out of range";
                    return;
                }

                _dstDb = db;
            }
            else
            {
                EarlyError = "ERR syntax error";
                return;
            }
        }

        if (_dstDb == Db && Args[1].SequenceEqual(Args[2]))
        {
            EarlyError = "ERR source and destination objects are the same";
            return;
        }

        RouteKeys(1, 1, 2);
    }

    public override void Run(ShardStore store, int phase)
    {
        if (phase == 0)
        {
            if (Owns(store, 1) && store.Dbs[Db].Read(Args[1], KeyHashOf(1), NowMs) is { } e)
            {
                _clone = e.IsString ? e.StringCopy() : e.Value;
                // Redis's dupStringObject gives the copy an object of its own, never a shared integer.
                _encoding = e.Encoding == StringEncoding.Int ? StringEncoding.IntPrivate : e.Encoding;
                _expireAt = e.ExpireAtMs;
            }

            if (Owns(store, 2))
            {
                _dstFound = store.Dbs[_dstDb].Touch(Args[2], KeyHashOf(2), NowMs) is not null; // lookupKeyWrite, as RENAME's
            }

            return;
        }

        if (Owns(store, 2))
        {
            var dst = store.Dbs[_dstDb];
            dst.Delete(Args[2], KeyHashOf(2), NowMs);
            dst.Insert(Args.ToArray(2), _clone!, _encoding, _expireAt);
            _copied = true;
        }
    }

    public override bool Continue(int phase) => phase == 0 && _clone is not null && (_replace || !_dstFound);

    /// <summary>Keys are held by (op database, key): a copy into another database holds whole shards instead.</summary>
    public override bool KeyScoped => _dstDb == Db;

    public override void Reply(ReplyBuffer reply) => reply.Integer(_copied ? 1 : 0);
}
