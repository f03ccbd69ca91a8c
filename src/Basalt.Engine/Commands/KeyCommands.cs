using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Engine.Commands;

/// <summary>The generic key family (Redis db.c, expire.c, object.c): single-key commands.</summary>
public static class KeyCommands
{
    private const AclCategories KeyRead = AclCategories.Keyspace | AclCategories.Read | AclCategories.Fast;
    private const AclCategories KeyWrite = AclCategories.Keyspace | AclCategories.Write | AclCategories.Fast;

    public static void Register(CommandTable t)
    {
        void K(string name, int arity, CommandFlags flags, AclCategories acl, KeyedHandler h, string summary, string since = "1.0.0") =>
            StringCommands.Keyed(t, name, arity, flags, acl, h, summary, "generic", since);

        K("type", 2, CommandFlags.ReadOnly | CommandFlags.Fast, KeyRead, Type, "Determines the type of value stored at a key.");
        K("ttl", 2, CommandFlags.ReadOnly | CommandFlags.Fast, KeyRead, Ttl, "Returns the expiration time in seconds of a key.");
        K("pttl", 2, CommandFlags.ReadOnly | CommandFlags.Fast, KeyRead, PTtl, "Returns the expiration time in milliseconds of a key.", since: "2.6.0");
        K("expiretime", 2, CommandFlags.ReadOnly | CommandFlags.Fast, KeyRead, ExpireTime, "Returns the expiration time of a key as a Unix timestamp.", since: "7.0.0");
        K("pexpiretime", 2, CommandFlags.ReadOnly | CommandFlags.Fast, KeyRead, PExpireTime, "Returns the expiration time of a key as a Unix milliseconds timestamp.", since: "7.0.0");
        K("persist", 2, CommandFlags.Write | CommandFlags.Fast, KeyWrite, Persist, "Removes the expiration time of a key.", since: "2.2.0");
        K("expire", -3, CommandFlags.Write | CommandFlags.Fast, KeyWrite, Expire, "Sets the expiration time of a key in seconds.");
        K("pexpire", -3, CommandFlags.Write | CommandFlags.Fast, KeyWrite, PExpire, "Sets the expiration time of a key in milliseconds.", since: "2.6.0");
        K("expireat", -3, CommandFlags.Write | CommandFlags.Fast, KeyWrite, ExpireAt, "Sets the expiration time of a key to a Unix timestamp.", since: "1.2.0");
        K("pexpireat", -3, CommandFlags.Write | CommandFlags.Fast, KeyWrite, PExpireAt, "Sets the expiration time of a key to a Unix milliseconds timestamp.", since: "2.6.0");
        K("move", 3, CommandFlags.Write | CommandFlags.Fast, KeyWrite, Move, "Moves a key to another database.");
        t.Find("move")!.OtherDbArg = 2;

        var objectSubs = new Dictionary<string, CommandSpec>
        {
            ["encoding"] = ObjectSub("encoding", ObjectEncoding, "Returns the internal encoding of a Redis object.", "2.2.3"),
            ["freq"] = ObjectSub("freq", ObjectFreq, "Returns the logarithmic access frequency counter of a Redis object.", "4.0.0"),
            ["idletime"] = ObjectSub("idletime", ObjectIdleTime, "Returns the time since the last access to a Redis object.", "2.2.3"),
            ["refcount"] = ObjectSub("refcount", ObjectRefCount, "Returns the reference count of a value of a key.", "2.2.3"),
        };
        t.Add(new CommandSpec { Name = "object", Arity = -2, Kind = CommandKind.Connection, Subcommands = objectSubs, Acl = AclCategories.Slow, Summary = "A container for object introspection commands.", Since = "2.2.3" });

        MultiKeyOps.Register(t);
    }

    private static CommandSpec ObjectSub(string name, KeyedHandler h, string summary, string since) => new()
    {
        Name = name,
        Arity = 3,
        Flags = CommandFlags.ReadOnly,
        FirstKey = 2,
        LastKey = 2,
        KeyStep = 1,
        Acl = AclCategories.Keyspace | AclCategories.Read | AclCategories.Slow,
        Kind = CommandKind.Keyed,
        Keyed = h,
        Summary = summary,
        Since = since,
    };

    private static void Type(ref CommandContext ctx)
    {
        var e = ctx.Db.Read(ctx.Args[1], ctx.NowMs, touch: false);
        ctx.Reply.SimpleString(e is null ? "none"u8 : TypeName(e));
    }

    public static ReadOnlySpan<byte> TypeName(Entry e) => e.Value switch
    {
        byte[] or GrowableString => "string"u8,
        _ => "none"u8,
    };

    private static void Ttl(ref CommandContext ctx) => ReplyTtl(ref ctx, seconds: true, absolute: false);

    private static void PTtl(ref CommandContext ctx) => ReplyTtl(ref ctx, seconds: false, absolute: false);

    private static void ExpireTime(ref CommandContext ctx) => ReplyTtl(ref ctx, seconds: true, absolute: true);

    private static void PExpireTime(ref CommandContext ctx) => ReplyTtl(ref ctx, seconds: false, absolute: true);

    private static void ReplyTtl(ref CommandContext ctx, bool seconds, bool absolute)
    {
        var e = ctx.Db.Read(ctx.Args[1], ctx.NowMs, touch: false);
        if (e is null)
        {
            ctx.Reply.Integer(-2);
            return;
        }

        if (e.ExpireAtMs < 0)
        {
            ctx.Reply.Integer(-1);
            return;
        }

        // Redis's ttlGenericCommand rounds seconds to the nearest, the absolute time (EXPIRETIME) as well as the TTL.
        // Split so that an expiry near long.MaxValue cannot overflow: (ms + 500) / 1000 for any ms >= 0.
        var ms = absolute ? e.ExpireAtMs : Math.Max(0, e.ExpireAtMs - ctx.NowMs);
        ctx.Reply.Integer(seconds ? (ms / 1000) + (((ms % 1000) + 500) / 1000) : ms);
    }

    private static void Persist(ref CommandContext ctx)
    {
        // Redis's lookupKeyWrite: the key's idle time restarts (OBJECT IDLETIME), as for the EXPIRE family.
        var e = ctx.Db.Touch(ctx.Args[1], ctx.NowMs);
        if (e is null || e.ExpireAtMs < 0)
        {
            ctx.Reply.Integer(0);
            return;
        }

        ctx.Db.SetExpire(e, -1);
        ctx.Reply.Integer(1);
    }

    private static void Expire(ref CommandContext ctx) => ExpireGeneric(ref ctx, ExpireUnit.Seconds, "expire");

    private static void PExpire(ref CommandContext ctx) => ExpireGeneric(ref ctx, ExpireUnit.Milliseconds, "pexpire");

    private static void ExpireAt(ref CommandContext ctx) => ExpireGeneric(ref ctx, ExpireUnit.UnixSeconds, "expireat");

    private static void PExpireAt(ref CommandContext ctx) => ExpireGeneric(ref ctx, ExpireUnit.UnixMilliseconds, "pexpireat");

    /// <summary>Redis 7.0 expireGenericCommand: flags, then the time, then overflow checks, then the key.</summary>
    private static void ExpireGeneric(ref CommandContext ctx, ExpireUnit unit, string name)
    {
        bool nx = false, xx = false, gt = false, lt = false;
        for (var i = 3; i < ctx.Args.Count; i++)
        {
            var a = ctx.Args[i];
            if (Is(a, "NX"u8))
            {
                nx = true;
            }
            else if (Is(a, "XX"u8))
            {
                xx = true;
            }
            else if (Is(a, "GT"u8))
            {
                gt = true;
            }
            else if (Is(a, "LT"u8))
            {
                lt = true;
            }
            else
            {
                new ErrorText().Add("ERR Unsupported option ").Add(a).WriteTo(ctx.Reply);
                return;
            }
        }

        if (nx && (xx || gt || lt))
        {
            ctx.Reply.Error("ERR NX and XX, GT or LT options at the same time are not compatible");
            return;
        }

        if (gt && lt)
        {
            ctx.Reply.Error("ERR GT and LT options at the same time are not compatible");
            return;
        }

        if (!TryLong(ctx.Args[2], ctx.Reply, out var when))
        {
            return;
        }

        var seconds = unit is ExpireUnit.Seconds or ExpireUnit.UnixSeconds;
        if (seconds)
        {
            if (when > long.MaxValue / 1000 || when < long.MinValue / 1000)
            {
                ctx.Reply.Error(Errors.InvalidExpire(name));
                return;
            }

            when *= 1000;
        }

        if (unit is ExpireUnit.Seconds or ExpireUnit.Milliseconds)
        {
            if ((when > 0 && ctx.NowMs > long.MaxValue - when) || (when < 0 && ctx.NowMs < long.MinValue - when))
            {
                ctx.Reply.Error(Errors.InvalidExpire(name));
                return;
            }

            when += ctx.NowMs;
        }

        var e = ctx.Db.Touch(ctx.Args[1], ctx.NowMs);
        if (e is null)
        {
            ctx.Reply.Integer(0);
            return;
        }

        var current = e.ExpireAtMs;
        var hasTtl = current >= 0;
        if ((nx && hasTtl) || (xx && !hasTtl) || (gt && (!hasTtl || when <= current)) || (lt && hasTtl && when >= current))
        {
            ctx.Reply.Integer(0);
            return;
        }

        if (when <= ctx.NowMs)
        {
            // An expiry already past deletes the key as DEL would; Redis does not count it in expired_keys.
            ctx.Db.Remove(e);
        }
        else
        {
            ctx.Db.SetExpire(e, when);
        }

        ctx.Reply.Integer(1);
    }

    private static void Move(ref CommandContext ctx)
    {
        var error = Errors.IntArgument(ctx.Args[2], out var target);
        if (!error.IsEmpty)
        {
            ctx.Reply.Error(error);
            return;
        }

        if (target < 0 || target >= ctx.Store.Dbs.Length)
        {
            ctx.Reply.Error(Errors.DbOutOfRange);
            return;
        }

        var dst = ctx.Store.Dbs[target];
        if (dst == ctx.Db)
        {
            ctx.Reply.Error(Errors.SameObject);
            return;
        }

        // Both are lookupKeyWrite in Redis: a MOVE refused because the target exists still counts an access to each.
        var e = ctx.Db.Touch(ctx.Args[1], ctx.NowMs);
        if (e is null || dst.Touch(ctx.Args[1], ctx.NowMs) is not null)
        {
            ctx.Reply.Integer(0);
            return;
        }

        var expireAt = e.ExpireAtMs;
        ctx.Db.Remove(e, valueMoves: true);
        dst.Insert(e.Key, e.Value, e.Encoding, expireAt, ctx.Store.LruClockSec - e.LastAccessSec);
        ctx.Reply.Integer(1);
    }

    private static void ObjectEncoding(ref CommandContext ctx)
    {
        var e = ctx.Db.Read(ctx.Args[2], ctx.NowMs, touch: false);
        if (e is null)
        {
            ctx.Reply.NullBulk();
            return;
        }

        ctx.Reply.Bulk(StringEncodings.Name(e.Encoding));
    }

    private static void ObjectFreq(ref CommandContext ctx)
    {
        if (ctx.Db.Read(ctx.Args[2], ctx.NowMs, touch: false) is null)
        {
            ctx.Reply.NullBulk();
            return;
        }

        // Access frequency is only tracked under an LFU maxmemory-policy, which Basalt does not offer yet.
        ctx.Reply.Error("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.");
    }

    private static void ObjectIdleTime(ref CommandContext ctx)
    {
        var e = ctx.Db.Read(ctx.Args[2], ctx.NowMs, touch: false);
        if (e is null)
        {
            ctx.Reply.NullBulk();
            return;
        }

        ctx.Reply.Integer(ctx.Store.LruClockSec - e.LastAccessSec);
    }

    private static void ObjectRefCount(ref CommandContext ctx)
    {
        var e = ctx.Db.Read(ctx.Args[2], ctx.NowMs, touch: false);
        if (e is null)
        {
            ctx.Reply.NullBulk();
            return;
        }

        // Redis shares the integer objects 0..9999 and reports them with refcount INT_MAX.
        var shared = e.Encoding == StringEncoding.Int && Numbers.TryParseLong(e.StringBytes, out var v)
            && v >= 0 && v < StringEncodings.SharedIntegers;
        ctx.Reply.Integer(shared ? int.MaxValue : 1);
    }
}
