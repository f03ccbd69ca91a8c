using System.Buffers.Text;

namespace Basalt.Engine.Keyspace;

public static class StringEncodings
{
    /// <summary>Redis's embstr limit (OBJ_ENCODING_EMBSTR_SIZE_LIMIT).</summary>
    public const int EmbstrLimit = 44;

    /// <summary>Redis shares integer objects 0..9999 (OBJ_SHARED_INTEGERS); OBJECT REFCOUNT shows INT_MAX for them.</summary>
    public const int SharedIntegers = 10000;

    /// <summary>The encoding Redis's tryObjectEncoding would pick for a freshly set string.</summary>
    public static StringEncoding Classify(ReadOnlySpan<byte> value)
    {
        if (value.Length <= 20 && Numbers.TryParseLong(value, out _))
        {
            return StringEncoding.Int;
        }

        return OfText(value);
    }

    /// <summary>The encoding of a string Redis builds as text and never tries as an integer (INCRBYFLOAT's result).</summary>
    public static StringEncoding OfText(ReadOnlySpan<byte> value) =>
        value.Length <= EmbstrLimit ? StringEncoding.Embstr : StringEncoding.Raw;

    public static string Name(StringEncoding e) => e switch
    {
        StringEncoding.Int or StringEncoding.IntPrivate => "int",
        StringEncoding.Embstr => "embstr",
        _ => "raw",
    };
}

/// <summary>Number parsing and formatting with Redis's strictness (util.c string2ll / string2ld).</summary>
public static class Numbers
{
    /// <summary>string2ll: no sign '+', no spaces, no leading zeros, no "-0".</summary>
    public static bool TryParseLong(ReadOnlySpan<byte> s, out long value) => Protocol.String2ll.TryParse(s, out value);

    /// <summary>string2ld-like: a finite or infinite decimal number, no spaces, no NaN.</summary>
    public static bool TryParseDouble(ReadOnlySpan<byte> s, out double value)
    {
        value = 0;
        if (s.IsEmpty || s.Length > 5120 || IsSpace(s[0]) || IsSpace(s[^1]))
        {
            return false;
        }

        var text = System.Text.Encoding.ASCII.GetString(s);
        if (text.Equals("inf", StringComparison.OrdinalIgnoreCase) || text.Equals("+inf", StringComparison.OrdinalIgnoreCase)
            || text.Equals("infinity", StringComparison.OrdinalIgnoreCase) || text.Equals("+infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = double.PositiveInfinity;
            return true;
        }

        if (text.Equals("-inf", StringComparison.OrdinalIgnoreCase) || text.Equals("-infinity", StringComparison.OrdinalIgnoreCase))
        {
            value = double.NegativeInfinity;
            return true;
        }

        return double.TryParse(text, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out value)
            && !double.IsNaN(value);
    }

    public static int FormatLong(long v, Span<byte> dest)
    {
        Utf8Formatter.TryFormat(v, dest, out var n);
        return n;
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\r' or (byte)'\v' or (byte)'\f';
}
