using Basalt.Protocol;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Engine.Commands;

public static partial class StringCommands
{
    [Flags]
    private enum SetFlags
    {
        None = 0,
        Nx = 1,
        Xx = 2,
        Get = 4,
        KeepTtl = 8,
        Expire = 16,
        IfEq = 32,
        IfNe = 64,
    }

    /// <summary>
    /// SET key value [NX | XX | IFEQ v | IFNE v] [GET] [EX s | PX ms | EXAT t | PXAT t | KEEPTTL].
    /// Options are parsed first (syntax errors win), then the expiry is validated, then GET reads
    /// the old value, then the condition decides. IFEQ/IFNE are the Redis 8.4 compare-and-set forms.
    /// </summary>
    private static void Set(ref CommandContext ctx)
    {
        var flags = SetFlags.None;
        var unit = ExpireUnit.Seconds;
        var expireArg = -1;
        var compareArg = -1;
        const SetFlags Conditions = SetFlags.Nx | SetFlags.Xx | SetFlags.IfEq | SetFlags.IfNe;
        for (var i = 3; i < ctx.Args.Count; i++)
        {
            var a = ctx.Args[i];
            var hasNext = i + 1 < ctx.Args.Count;
            if (Is(a, "NX"u8) && (flags & (Conditions & ~SetFlags.Nx)) == 0)
            {
                flags |= SetFlags.Nx;
            }
            else if (Is(a, "XX"u8) && (flags & (Conditions & ~SetFlags.Xx)) == 0)
            {
                flags |= SetFlags.Xx;
            }
            else if (Is(a, "IFEQ"u8) && (flags & Conditions) == 0 && hasNext)
            {
                flags |= SetFlags.IfEq;
                compareArg = ++i;
            }
            else if (Is(a, "IFNE"u8) && (flags & Conditions) == 0 && hasNext)
            {
                flags |= SetFlags.IfNe;
                compareArg = ++i;
            }
            else if (Is(a, "GET"u8))
            {
                flags |= SetFlags.Get;
            }
            else if (Is(a, "KEEPTTL"u8) && (flags & SetFlags.Expire) == 0)
            {
                flags |= SetFlags.KeepTtl;
            }
            else if (TryExpireKeyword(a, out var u) && (flags & SetFlags.KeepTtl) == 0 && (expireArg < 0 || u == unit) && hasNext)
            {
                flags |= SetFlags.Expire;
                unit = u;
                expireArg = ++i;
            }
            else
            {
                ctx.Reply.Error(Errors.Syntax);
                return;
            }
        }

        long at = -1;
        if (expireArg > 0 && !TryExpireAt(ctx.Args[expireArg], unit, ctx.NowMs, "set", ctx.Reply, out at))
        {
            return;
        }

        var key = ctx.Args[1];
        var existing = ctx.Db.Touch(key, ctx.NowMs); // lookupKeyWrite: SET NX on an existing key still counts an access

        // SET … GET reads the old value as GET does (Redis's getGenericCommand): a keyspace hit or miss.
        if ((flags & SetFlags.Get) != 0)
        {
            ctx.Store.Stats.CountRead(existing);
        }

        var needString = (flags & (SetFlags.Get | SetFlags.IfEq | SetFlags.IfNe)) != 0;
        if (needString && existing is not null && !existing.IsString)
        {
            ctx.Reply.Error(Errors.WrongType);
            return;
        }

        if ((flags & SetFlags.Get) != 0)
        {
            if (existing is null)
            {
                ctx.Reply.NullBulk();
            }
            else
            {
                ctx.Reply.Bulk(existing.StringBytes);
            }
        }

        var apply = flags switch
        {
            _ when (flags & SetFlags.Nx) != 0 => existing is null,
            _ when (flags & SetFlags.Xx) != 0 => existing is not null,
            _ when (flags & SetFlags.IfEq) != 0 => existing is not null && ctx.Args[compareArg].SequenceEqual(existing.StringBytes),
            _ when (flags & SetFlags.IfNe) != 0 => existing is null || !ctx.Args[compareArg].SequenceEqual(existing.StringBytes),
            _ => true,
        };

        if (!apply)
        {
            if ((flags & SetFlags.Get) == 0)
            {
                ctx.Reply.NullBulk();
            }

            return;
        }

        ctx.Db.SetString(key, ctx.Args[2], at, keepTtl: (flags & SetFlags.KeepTtl) != 0, ctx.NowMs);
        if ((flags & SetFlags.Get) == 0)
        {
            ctx.Reply.Ok();
        }
    }
}
