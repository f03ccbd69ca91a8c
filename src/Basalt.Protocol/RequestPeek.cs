namespace Basalt.Protocol;

/// <summary>
/// Looks ahead over complete multibulk frames without parsing them, to find each one's second
/// argument (the key of most keyed commands) so its lookup can be prefetched before the frame runs.
/// It changes no parser state and trusts nothing: anything that is not a well-formed, complete
/// multibulk frame (inline requests, a partial frame, garbage) ends the look-ahead, and the real
/// parser then deals with it.
/// </summary>
public static class RequestPeek
{
    /// <summary>
    /// Skips the frame at <paramref name="pos"/>. On success <paramref name="pos"/> is the next frame's
    /// start and <paramref name="argStart"/>/<paramref name="argLength"/> locate argument 1 (length -1 if
    /// the frame has fewer than two arguments).
    /// </summary>
    public static bool TrySkipFrame(ReadOnlySpan<byte> data, ref int pos, out int argStart, out int argLength)
    {
        argStart = 0;
        argLength = -1;
        var at = pos;
        if (at >= data.Length || data[at] != (byte)'*' || !TryReadCount(data, ref at, out var count))
        {
            return false;
        }

        for (var i = 0; i < count; i++)
        {
            if (at >= data.Length || data[at] != (byte)'$' || !TryReadCount(data, ref at, out var len))
            {
                return false;
            }

            if ((long)at + len + 2 > data.Length)
            {
                return false;
            }

            if (i == 1)
            {
                argStart = at;
                argLength = (int)len;
            }

            at += (int)len + 2;
        }

        pos = at;
        return true;
    }

    /// <summary>Reads the digits after a '*' or '$' and the CRLF; small, non-negative counts only.</summary>
    private static bool TryReadCount(ReadOnlySpan<byte> data, ref int at, out long value)
    {
        value = 0;
        var i = at + 1;
        var digits = 0;
        while (i < data.Length && data[i] is >= (byte)'0' and <= (byte)'9')
        {
            value = (value * 10) + (data[i] - '0');
            i++;
            if (++digits > 9)
            {
                return false;
            }
        }

        if (digits == 0 || i + 1 >= data.Length || data[i] != (byte)'\r' || data[i + 1] != (byte)'\n')
        {
            return false;
        }

        at = i + 2;
        return true;
    }
}
