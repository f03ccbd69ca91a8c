namespace Basalt.Server;

/// <summary>One client class's output buffer limits: hard bytes, soft bytes, and the seconds a client may stay over the soft one (0: no limit).</summary>
public sealed record OutputBufferLimit(long HardBytes, long SoftBytes, long SoftSeconds);

/// <summary>
/// redis.conf's <c>client-output-buffer-limit</c>, read, written and counted as Redis 7.0 does. Only the normal class has
/// clients today; the replica and pubsub limits are kept for when those clients exist.
/// </summary>
public static class OutputBufferLimits
{
    /// <summary>Index of a class in the limits array.</summary>
    public enum ClientClass
    {
        Normal,
        Replica,
        PubSub,
    }

    /// <summary>
    /// Redis's fixed 16 KB reply buffer: replies held there don't count against the limits, only what spills past it. So a
    /// tiny limit still lets a client read small replies, as in Redis, and a client is judged on what piles up.
    /// </summary>
    public const int UncountedBytes = 16 * 1024;

    /// <summary>How many of <paramref name="pendingBytes"/> unsent bytes count against a limit.</summary>
    public static long Counted(long pendingBytes) => pendingBytes > UncountedBytes ? pendingBytes - UncountedBytes : 0;

    public static OutputBufferLimit[] Empty() => [new(0, 0, 0), new(0, 0, 0), new(0, 0, 0)];

    /// <summary>CONFIG GET's text: every class, in bytes, under Redis's names.</summary>
    public static string Text(OutputBufferLimit[] limits)
    {
        static string One(string name, OutputBufferLimit l) => $"{name} {l.HardBytes} {l.SoftBytes} {l.SoftSeconds}";
        return $"{One("normal", limits[0])} {One("slave", limits[1])} {One("pubsub", limits[2])}";
    }

    /// <summary>
    /// Applies "class hard soft seconds" groups to a copy of <paramref name="current"/>: the classes not named keep their
    /// limits, as in Redis, where each config-file line names one class. All or nothing, with Redis's errors.
    /// </summary>
    public static OutputBufferLimit[] Parse(string value, OutputBufferLimit[] current)
    {
        var next = (OutputBufferLimit[])current.Clone();
        if (value.Length == 0)
        {
            return next;
        }

        // Split on each single space, as Redis does: two spaces in a row make an empty word, and a wrong count.
        var words = value.Split(' ');
        if (words.Length % 4 != 0)
        {
            throw new FormatException("Wrong number of arguments in buffer limit configuration.");
        }

        for (var i = 0; i < words.Length; i += 4)
        {
            var cls = words[i].ToLowerInvariant() switch
            {
                "normal" => ClientClass.Normal,
                "slave" or "replica" => ClientClass.Replica,
                "pubsub" => ClientClass.PubSub,
                _ => throw new ArgumentException("Invalid client class specified in buffer limit configuration."),
            };

            // Redis 7.0 keeps the soft seconds strtoll read in an int: their low 32 bits, refused when those are negative
            // (2147483648 is refused, 4294967296 is 0).
            var seconds = -1;
            if (!TryParseMemory(words[i + 1], out var hard) || !TryParseMemory(words[i + 2], out var soft)
                || !TryParseSeconds(words[i + 3], out var read) || (seconds = unchecked((int)read)) < 0)
            {
                throw new FormatException("Error in hard, soft or soft_seconds setting in buffer limit configuration.");
            }

            next[(int)cls] = new OutputBufferLimit((long)Math.Min(hard, long.MaxValue), (long)Math.Min(soft, long.MaxValue), seconds);
        }

        return next;
    }

    /// <summary>
    /// A memory size as Redis 7.0's <c>memtoull</c> reads it: digits (none is 0), then b, k, kb, m, mb, g or gb in any
    /// case; no sign, no spaces.
    /// </summary>
    public static bool TryParseMemory(string text, out ulong bytes)
    {
        bytes = 0;
        var u = 0;
        while (u < text.Length && char.IsAsciiDigit(text[u]))
        {
            u++;
        }

        ulong unit = text[u..].ToLowerInvariant() switch
        {
            "" or "b" => 1,
            "k" => 1000,
            "kb" => 1024,
            "m" => 1000 * 1000,
            "mb" => 1024 * 1024,
            "g" => 1000UL * 1000 * 1000,
            "gb" => 1024UL * 1024 * 1024,
            _ => 0,
        };
        if (unit == 0 || u >= 128)
        {
            return false;
        }

        // strtoull saturates on overflow, and memtoull does not look at errno: only the unit can make it fail.
        ulong n = 0;
        for (var i = 0; i < u; i++)
        {
            var d = (ulong)(text[i] - '0');
            n = n > (ulong.MaxValue - d) / 10 ? ulong.MaxValue : (n * 10) + d;
        }

        // Nor does it check the product: it wraps, as Redis 7.0's does (a setting's bounds then refuse the result).
        bytes = unchecked(n * unit);
        return true;
    }

    /// <summary>Seconds as <c>strtoll</c> reads them with nothing left over: leading white space, a sign, digits; an empty text is 0.</summary>
    private static bool TryParseSeconds(string text, out long seconds)
    {
        seconds = 0;
        var i = 0;
        while (i < text.Length && text[i] is ' ' or '\t' or '\n' or '\v' or '\f' or '\r')
        {
            i++;
        }

        var negative = i < text.Length && text[i] == '-';
        if (i < text.Length && text[i] is '-' or '+')
        {
            i++;
        }

        var digits = i;
        ulong n = 0;
        for (; i < text.Length && char.IsAsciiDigit(text[i]); i++)
        {
            n = n > (ulong)long.MaxValue / 10 ? (ulong)long.MaxValue + 1 : Math.Min((n * 10) + (ulong)(text[i] - '0'), (ulong)long.MaxValue + 1);
        }

        if (i == digits)
        {
            // No digits: strtoll's end is the text's start, which is its end only for an empty text.
            return text.Length == 0;
        }

        if (i != text.Length)
        {
            return false;
        }

        seconds = negative ? (n > long.MaxValue ? long.MinValue : -(long)n) : (long)Math.Min(n, long.MaxValue);
        return true;
    }
}
