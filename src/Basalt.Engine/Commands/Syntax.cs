using System.Text;
using Basalt.Protocol;

namespace Basalt.Engine.Commands;

/// <summary>Argument-parsing helpers shared by the command families.</summary>
public static class Syntax
{
    /// <summary>
    /// Whether an argument is a keyword, compared as Redis compares them (strcasecmp on C strings): case-insensitively,
    /// and only up to the argument's first NUL byte, so <c>"NX\0junk"</c> is NX.
    /// </summary>
    public static bool Is(ReadOnlySpan<byte> arg, ReadOnlySpan<byte> keyword) =>
        arg.Length >= keyword.Length && Ascii.EqualsIgnoreCase(arg[..keyword.Length], keyword) && (arg.Length == keyword.Length || arg[keyword.Length] == 0);

    /// <summary>
    /// An argument as Redis reads one it treats as a C string (option keywords, config values and patterns, client
    /// filters): up to its first NUL byte.
    /// </summary>
    public static ReadOnlySpan<byte> CString(ReadOnlySpan<byte> arg)
    {
        var nul = arg.IndexOf((byte)0);
        return nul < 0 ? arg : arg[..nul];
    }

    /// <summary>Parses an integer argument or replies Redis's "not an integer" error.</summary>
    public static bool TryLong(ReadOnlySpan<byte> arg, ReplyBuffer reply, out long value)
    {
        if (Keyspace.Numbers.TryParseLong(arg, out value))
        {
            return true;
        }

        reply.Error(Errors.NotInteger);
        return false;
    }

    public enum ExpireUnit
    {
        Seconds,
        Milliseconds,
        UnixSeconds,
        UnixMilliseconds,
    }

    /// <summary>
    /// Turns an expire argument into an absolute ms time, with the checks of Redis's
    /// getExpireMillisecondsOrReply: not an integer, ≤ 0, or overflowing gives an error reply.
    /// </summary>
    public static bool TryExpireAt(ReadOnlySpan<byte> arg, ExpireUnit unit, long nowMs, string command, ReplyBuffer reply, out long atMs)
    {
        atMs = 0;
        if (!TryLong(arg, reply, out var v))
        {
            return false;
        }

        var seconds = unit is ExpireUnit.Seconds or ExpireUnit.UnixSeconds;
        if (v <= 0 || (seconds && v > long.MaxValue / 1000))
        {
            reply.Error(Errors.InvalidExpire(command));
            return false;
        }

        if (seconds)
        {
            v *= 1000;
        }

        if (unit is ExpireUnit.Seconds or ExpireUnit.Milliseconds)
        {
            if (v > long.MaxValue - nowMs)
            {
                reply.Error(Errors.InvalidExpire(command));
                return false;
            }

            v += nowMs;
        }

        atMs = v;
        return true;
    }

    /// <summary>Parses "EX"/"PX"/"EXAT"/"PXAT" keywords.</summary>
    public static bool TryExpireKeyword(ReadOnlySpan<byte> arg, out ExpireUnit unit)
    {
        unit = default;
        if (Is(arg, "EX"u8))
        {
            unit = ExpireUnit.Seconds;
        }
        else if (Is(arg, "PX"u8))
        {
            unit = ExpireUnit.Milliseconds;
        }
        else if (Is(arg, "EXAT"u8))
        {
            unit = ExpireUnit.UnixSeconds;
        }
        else if (Is(arg, "PXAT"u8))
        {
            unit = ExpireUnit.UnixMilliseconds;
        }
        else
        {
            return false;
        }

        return true;
    }

    public static string Lower(ReadOnlySpan<byte> arg) => Encoding.Latin1.GetString(arg).ToLowerInvariant();
}
