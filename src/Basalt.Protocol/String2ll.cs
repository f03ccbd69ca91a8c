using System.Buffers.Text;

namespace Basalt.Protocol;

/// <summary>Redis's string2ll (util.c), the integer syntax of lengths on the wire and of integer arguments.</summary>
public static class String2ll
{
    /// <summary>An optional '-' and digits: no '+', no spaces, no leading zeros, no "-0", within long's range.</summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out long value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 20)
        {
            return false;
        }

        if (s.Length == 1 && s[0] == (byte)'0')
        {
            return true;
        }

        var digits = s[0] == (byte)'-' ? s[1..] : s;
        if (digits.IsEmpty || digits[0] < (byte)'1' || digits[0] > (byte)'9')
        {
            return false;
        }

        return Utf8Parser.TryParse(s, out value, out var used) && used == s.Length;
    }
}
