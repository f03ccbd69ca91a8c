using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Engine.Commands;

/// <summary>The string family (Redis t_string.c): single-key commands run on the key's shard.</summary>
public static partial class StringCommands
{
    private const AclCategories ReadFast = AclCategories.Read | AclCategories.String | AclCategories.Fast;
    private const AclCategories WriteSlow = AclCategories.Write | AclCategories.String | AclCategories.Slow;
    private const AclCategories WriteFast = AclCategories.Write | AclCategories.String | AclCategories.Fast;

    public static void Register(CommandTable t)
    {
        Keyed(t, "get", 2, CommandFlags.ReadOnly | CommandFlags.Fast, ReadFast, Get, "Returns the string value of a key.");
        Keyed(t, "set", -3, CommandFlags.Write | CommandFlags.DenyOom, WriteSlow, Set, "Sets the string value of a key, ignoring its type.");
        Keyed(t, "setnx", 3, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, SetNx, "Set the string value of a key only when the key doesn't exist.");
        Keyed(t, "setex", 4, CommandFlags.Write | CommandFlags.DenyOom, WriteSlow, SetEx, "Sets the string value and expiration time of a key.", since: "2.0.0");
        Keyed(t, "psetex", 4, CommandFlags.Write | CommandFlags.DenyOom, WriteSlow, PSetEx, "Sets both string value and expiration time in milliseconds of a key.", since: "2.6.0");
        Keyed(t, "getset", 3, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, GetSet, "Returns the previous string value of a key after setting it to a new value.");
        Keyed(t, "getdel", 2, CommandFlags.Write | CommandFlags.Fast, WriteFast, GetDel, "Returns the string value of a key after deleting the key.", since: "6.2.0");
        Keyed(t, "getex", -2, CommandFlags.Write | CommandFlags.Fast, WriteFast, GetEx, "Returns the string value of a key after setting its expiration time.", since: "6.2.0");
        Keyed(t, "append", 3, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, Append, "Appends a string to the value of a key. Creates the key if it doesn't exist.", since: "2.0.0");
        Keyed(t, "strlen", 2, CommandFlags.ReadOnly | CommandFlags.Fast, ReadFast, StrLen, "Returns the length of a string value.", since: "2.2.0");
        Keyed(t, "incr", 2, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, Incr, "Increments the integer value of a key by one.");
        Keyed(t, "decr", 2, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, Decr, "Decrements the integer value of a key by one.");
        Keyed(t, "incrby", 3, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, IncrBy, "Increments the integer value of a key by a number.");
        Keyed(t, "decrby", 3, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, DecrBy, "Decrements a number from the integer value of a key.");
        Keyed(t, "incrbyfloat", 3, CommandFlags.Write | CommandFlags.DenyOom | CommandFlags.Fast, WriteFast, IncrByFloat, "Increment the floating point value of a key by a number.", since: "2.6.0");
        Keyed(t, "getrange", 4, CommandFlags.ReadOnly, AclCategories.Read | AclCategories.String | AclCategories.Slow, GetRange, "Returns a substring of the string stored at a key.", since: "2.4.0");
        Keyed(t, "substr", 4, CommandFlags.ReadOnly, AclCategories.Read | AclCategories.String | AclCategories.Slow, GetRange, "Returns a substring from a string value.");
        Keyed(t, "setrange", 4, CommandFlags.Write | CommandFlags.DenyOom, WriteSlow, SetRange, "Overwrites a part of a string value with another by an offset.", since: "2.2.0");

        t.Add(new CommandSpec
        {
            Name = "mget",
            Arity = -2,
            Flags = CommandFlags.ReadOnly | CommandFlags.Fast,
            FirstKey = 1,
            LastKey = -1,
            KeyStep = 1,
            Acl = ReadFast,
            Kind = CommandKind.Multi,
            CreateOp = static (in OpRequest r) => new MGetOp(r),
            OnOneShard = MGetOp.OnOneShard,
            Summary = "Atomically returns the string values of one or more keys.",
            Group = "string",
        });
        t.Add(new CommandSpec
        {
            Name = "mset",
            Arity = -3,
            Flags = CommandFlags.Write | CommandFlags.DenyOom,
            FirstKey = 1,
            LastKey = -1,
            KeyStep = 2,
            Acl = WriteSlow,
            Kind = CommandKind.Multi,
            CreateOp = static (in OpRequest r) => new MSetOp(r, onlyIfNoneExist: false),
            OnOneShard = MSetOp.MSetOnOneShard,
            Summary = "Atomically creates or modifies the string values of one or more keys.",
            Group = "string",
            Since = "1.0.1",
        });
        t.Add(new CommandSpec
        {
            Name = "msetnx",
            Arity = -3,
            Flags = CommandFlags.Write | CommandFlags.DenyOom,
            FirstKey = 1,
            LastKey = -1,
            KeyStep = 2,
            Acl = WriteSlow,
            Kind = CommandKind.Multi,
            CreateOp = static (in OpRequest r) => new MSetOp(r, onlyIfNoneExist: true),
            OnOneShard = MSetOp.MSetNxOnOneShard,
            Summary = "Atomically modifies the string values of one or more keys only when all keys don't exist.",
            Group = "string",
            Since = "1.0.1",
        });
        t.Add(new CommandSpec
        {
            Name = "lcs",
            Arity = -3,
            Flags = CommandFlags.ReadOnly,
            FirstKey = 1,
            LastKey = 2,
            KeyStep = 1,
            Acl = AclCategories.Read | AclCategories.String | AclCategories.Slow,
            Kind = CommandKind.Multi,
            CreateOp = static (in OpRequest r) => new LcsOp(r),
            Summary = "Finds the longest common substring.",
            Group = "string",
            Since = "7.0.0",
        });
    }

    internal static void Keyed(CommandTable t, string name, int arity, CommandFlags flags, AclCategories acl, KeyedHandler handler, string summary, string group = "string", string since = "1.0.0") =>
        t.Add(new CommandSpec
        {
            Name = name,
            Arity = arity,
            Flags = flags,
            FirstKey = 1,
            LastKey = 1,
            KeyStep = 1,
            Acl = acl,
            Kind = CommandKind.Keyed,
            Keyed = handler,
            Summary = summary,
            Group = group,
            Since = since,
        });

    /// <summary>
    /// Looks up a string key to read it (counted in keyspace_hits/misses, as Redis's lookupKeyRead). Null when missing;
    /// sets <paramref name="wrongType"/> (and replies) for other types.
    /// </summary>
    internal static Entry? FindString(ref CommandContext ctx, ReadOnlySpan<byte> key, out bool wrongType) =>
        CheckString(ref ctx, ctx.Db.Read(key, ctx.NowMs), out wrongType);

    /// <summary>Looks up a string key to modify it (APPEND, INCR, SETRANGE…): not a keyspace hit or miss in Redis.</summary>
    internal static Entry? FindStringForWrite(ref CommandContext ctx, ReadOnlySpan<byte> key, out bool wrongType) =>
        CheckString(ref ctx, ctx.Db.Touch(key, ctx.NowMs), out wrongType);

    private static Entry? CheckString(ref CommandContext ctx, Entry? e, out bool wrongType)
    {
        wrongType = e is not null && !e.IsString;
        if (wrongType)
        {
            ctx.Reply.Error(Errors.WrongType);
            return null;
        }

        return e;
    }

    private static void Get(ref CommandContext ctx)
    {
        var e = FindString(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        if (e is null)
        {
            ctx.Reply.NullBulk();
        }
        else
        {
            ctx.Reply.Bulk(e.StringBytes);
        }
    }

    private static void SetNx(ref CommandContext ctx)
    {
        if (ctx.Db.Touch(ctx.Args[1], ctx.NowMs) is not null) // lookupKeyWrite: a refused SETNX still counts an access
        {
            ctx.Reply.Integer(0);
            return;
        }

        ctx.Db.SetString(ctx.Args[1], ctx.Args[2], -1, keepTtl: false, ctx.NowMs);
        ctx.Reply.Integer(1);
    }

    private static void SetEx(ref CommandContext ctx) => SetWithExpire(ref ctx, ExpireUnit.Seconds, "setex");

    private static void PSetEx(ref CommandContext ctx) => SetWithExpire(ref ctx, ExpireUnit.Milliseconds, "psetex");

    private static void SetWithExpire(ref CommandContext ctx, ExpireUnit unit, string name)
    {
        if (!TryExpireAt(ctx.Args[2], unit, ctx.NowMs, name, ctx.Reply, out var at))
        {
            return;
        }

        ctx.Db.SetString(ctx.Args[1], ctx.Args[3], at, keepTtl: false, ctx.NowMs);
        ctx.Reply.Ok();
    }

    private static void GetSet(ref CommandContext ctx)
    {
        var e = FindString(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        if (e is null)
        {
            ctx.Reply.NullBulk();
        }
        else
        {
            ctx.Reply.Bulk(e.StringBytes);
        }

        ctx.Db.SetString(ctx.Args[1], ctx.Args[2], -1, keepTtl: false, ctx.NowMs);
    }

    private static void GetDel(ref CommandContext ctx)
    {
        var e = FindString(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        if (e is null)
        {
            ctx.Reply.NullBulk();
            return;
        }

        ctx.Reply.Bulk(e.StringBytes);
        ctx.Db.Remove(e);
    }

    /// <summary>
    /// Redis 7.0 getexCommand's order: the options' syntax, then the key (nil when missing, WRONGTYPE), and only then
    /// the expire value, so GETEX nokey EX abc is nil.
    /// </summary>
    private static void GetEx(ref CommandContext ctx)
    {
        var persist = false;
        var expireArg = -1;
        var expireUnit = ExpireUnit.Seconds;
        for (var i = 2; i < ctx.Args.Count; i++)
        {
            var a = ctx.Args[i];
            if (Is(a, "PERSIST"u8) && expireArg < 0)
            {
                persist = true;
            }
            else if (TryExpireKeyword(a, out var unit) && (expireArg < 0 || unit == expireUnit) && !persist && i + 1 < ctx.Args.Count)
            {
                // Like Redis, a repeated keyword of the same unit is allowed; the last value wins.
                expireUnit = unit;
                expireArg = ++i;
            }
            else
            {
                ctx.Reply.Error(Errors.Syntax);
                return;
            }
        }

        var e = FindString(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        if (e is null)
        {
            ctx.Reply.NullBulk();
            return;
        }

        long at = -1;
        var haveExpire = expireArg >= 0;
        if (haveExpire && !TryExpireAt(ctx.Args[expireArg], expireUnit, ctx.NowMs, "getex", ctx.Reply, out at))
        {
            return;
        }

        ctx.Reply.Bulk(e.StringBytes);
        if (haveExpire && at <= ctx.NowMs)
        {
            ctx.Db.Remove(e);
        }
        else if (haveExpire)
        {
            ctx.Db.SetExpire(e, at);
        }
        else if (persist && e.ExpireAtMs >= 0)
        {
            ctx.Db.SetExpire(e, -1);
        }
    }

    private static void Append(ref CommandContext ctx)
    {
        var e = FindStringForWrite(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        var add = ctx.Args[2];
        if (e is null)
        {
            e = ctx.Db.SetString(ctx.Args[1], add, -1, keepTtl: false, ctx.NowMs);
            ctx.Reply.Integer(add.Length);
            return;
        }

        var length = e.StringBytes.Length;
        if (ExceedsMaxString(ref ctx, length, add.Length))
        {
            ctx.Reply.Error(Errors.StringTooLong);
            return;
        }

        // Greedy growth, as Redis's sdscatlen: the first APPEND to a key makes its value growable.
        var grown = WriteGrowing(ref ctx, e, length, add);
        e.Encoding = StringEncoding.Raw;
        ctx.Db.ValueChanged(e);
        ctx.Reply.Integer(grown);
    }

    /// <summary>
    /// Writes <paramref name="bytes"/> at <paramref name="offset"/> of a string value, making it a
    /// <see cref="GrowableString"/> first if it is not one, and counts the buffer it outgrew as dropped. Returns the new length.
    /// </summary>
    private static int WriteGrowing(ref CommandContext ctx, Entry e, long offset, ReadOnlySpan<byte> bytes)
    {
        var held = e.ValueBytes;
        if (e.Value is not GrowableString g)
        {
            e.Value = g = new GrowableString(e.StringBytes, Math.Max(e.StringBytes.Length, offset + bytes.Length));
        }

        g.Write(offset, bytes);
        if (g.Capacity != held)
        {
            ctx.Store.Dropped(held);
        }

        return g.Length;
    }

    private static void StrLen(ref CommandContext ctx)
    {
        var e = FindString(ref ctx, ctx.Args[1], out var wrong);
        if (!wrong)
        {
            ctx.Reply.Integer(e is null ? 0 : e.StringBytes.Length);
        }
    }

    private static void Incr(ref CommandContext ctx) => IncrByValue(ref ctx, 1);

    private static void Decr(ref CommandContext ctx) => IncrByValue(ref ctx, -1);

    private static void IncrBy(ref CommandContext ctx)
    {
        if (TryLong(ctx.Args[2], ctx.Reply, out var by))
        {
            IncrByValue(ref ctx, by);
        }
    }

    private static void DecrBy(ref CommandContext ctx)
    {
        if (!TryLong(ctx.Args[2], ctx.Reply, out var by))
        {
            return;
        }

        if (by == long.MinValue)
        {
            ctx.Reply.Error("ERR decrement would overflow");
            return;
        }

        IncrByValue(ref ctx, -by);
    }

    private static void IncrByValue(ref CommandContext ctx, long by)
    {
        var e = FindStringForWrite(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        long current = 0;
        if (e is not null && !Numbers.TryParseLong(e.StringBytes, out current))
        {
            ctx.Reply.Error(Errors.NotInteger);
            return;
        }

        if ((by > 0 && current > long.MaxValue - by) || (by < 0 && current < long.MinValue - by))
        {
            ctx.Reply.Error(Errors.Overflow);
            return;
        }

        var next = current + by;
        Span<byte> text = stackalloc byte[24];
        var n = Numbers.FormatLong(next, text);
        if (e is null)
        {
            ctx.Db.SetString(ctx.Args[1], text[..n], -1, keepTtl: false, ctx.NowMs);
        }
        else
        {
            if (e.Value is byte[] old && old.Length == n)
            {
                text[..n].CopyTo(old);
            }
            else
            {
                ctx.Store.Dropped(e.ValueBytes);
                e.Value = text[..n].ToArray();
            }

            e.Encoding = StringEncoding.Int;
            ctx.Db.ValueChanged(e);
        }

        ctx.Reply.Integer(next);
    }

    private static void IncrByFloat(ref CommandContext ctx)
    {
        var e = FindStringForWrite(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        var current = LongDouble.Zero;
        if ((e is not null && !LongDouble.TryParse(e.StringBytes, out current)) || !LongDouble.TryParse(ctx.Args[2], out var by))
        {
            ctx.Reply.Error(Errors.NotFloat);
            return;
        }

        if (!LongDouble.TryAdd(current, by, out var sum))
        {
            ctx.Reply.Error("ERR increment would produce NaN or Infinity");
            return;
        }

        var text = sum.ToHumanText();

        // Redis stores the sum as text (createStringObjectFromLongDouble): embstr or raw, never int, even for "17".
        if (e is null)
        {
            ctx.Db.SetString(ctx.Args[1], text, -1, keepTtl: false, ctx.NowMs).Encoding = StringEncodings.OfText(text);
        }
        else
        {
            ctx.Store.Dropped(e.ValueBytes);
            e.Value = text;
            e.Encoding = StringEncodings.OfText(text);
            ctx.Db.ValueChanged(e);
        }

        ctx.Reply.Bulk(text);
    }

    private static void GetRange(ref CommandContext ctx)
    {
        if (!TryLong(ctx.Args[2], ctx.Reply, out var start) || !TryLong(ctx.Args[3], ctx.Reply, out var end))
        {
            return;
        }

        var e = FindString(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        var s = e is null ? [] : e.StringBytes;
        long len = s.Length;

        // Redis 7.0 getrangeCommand's clamping, including its quirks.
        if (start < 0 && end < 0 && start > end)
        {
            ctx.Reply.Bulk([]);
            return;
        }

        if (start < 0)
        {
            start = len + start;
        }

        if (end < 0)
        {
            end = len + end;
        }

        if (start < 0)
        {
            start = 0;
        }

        if (end < 0)
        {
            end = 0;
        }

        if (end >= len)
        {
            end = len - 1;
        }

        if (start > end || len == 0)
        {
            ctx.Reply.Bulk([]);
            return;
        }

        ctx.Reply.Bulk(s.Slice((int)start, (int)(end - start + 1)));
    }

    /// <summary>
    /// Redis's checkStringLength: a string of size plus append bytes may not pass proto-max-bulk-len, nor the largest
    /// array .NET can hold (proto-max-bulk-len may be set higher). Written so that an offset near long.MaxValue
    /// cannot overflow.
    /// </summary>
    private static bool ExceedsMaxString(ref CommandContext ctx, long size, int append) =>
        size > Math.Min(ctx.Store.Limits.MaxBulkLength, Array.MaxLength) - append;

    private static void SetRange(ref CommandContext ctx)
    {
        if (!TryLong(ctx.Args[2], ctx.Reply, out var offset))
        {
            return;
        }

        if (offset < 0)
        {
            ctx.Reply.Error("ERR offset is out of range");
            return;
        }

        var value = ctx.Args[3];
        var e = FindStringForWrite(ref ctx, ctx.Args[1], out var wrong);
        if (wrong)
        {
            return;
        }

        if (e is null)
        {
            if (value.IsEmpty)
            {
                ctx.Reply.Integer(0);
                return;
            }

            if (ExceedsMaxString(ref ctx, offset, value.Length))
            {
                ctx.Reply.Error(Errors.StringTooLong);
                return;
            }

            var fresh = new byte[offset + value.Length];
            value.CopyTo(fresh.AsSpan((int)offset));
            e = ctx.Db.SetString(ctx.Args[1], fresh, -1, keepTtl: false, ctx.NowMs);
            e.Encoding = StringEncoding.Raw;
            ctx.Reply.Integer(fresh.Length);
            return;
        }

        var length = e.StringBytes.Length;
        if (value.IsEmpty)
        {
            ctx.Reply.Integer(length);
            return;
        }

        if (ExceedsMaxString(ref ctx, offset, value.Length))
        {
            ctx.Reply.Error(Errors.StringTooLong);
            return;
        }

        // Within the string it is written in place; past its end the value grows greedily, as Redis's sdsgrowzero.
        var end = offset + value.Length;
        if (e.Value is byte[] exact && end <= exact.Length)
        {
            value.CopyTo(exact.AsSpan((int)offset));
        }
        else
        {
            length = WriteGrowing(ref ctx, e, offset, value);
        }

        e.Encoding = StringEncoding.Raw;
        ctx.Db.ValueChanged(e);
        ctx.Reply.Integer(Math.Max(length, end));
    }
}
