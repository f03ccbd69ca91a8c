using System.Globalization;
using System.Text;

namespace Basalt.Engine.Commands;

/// <summary>
/// INCRBYFLOAT arithmetic. Redis adds in C long double and prints "%.17Lf" with trailing zeros
/// trimmed, so 0.1+0.2 prints "0.3". A binary double would print 0.30000000000000004; decimal
/// arithmetic reproduces Redis's text for every value decimal can hold, and doubles cover the rest.
/// </summary>
internal readonly struct FloatText
{
    private readonly decimal _dec;
    private readonly double _dbl;
    private readonly bool _isDecimal;

    private FloatText(decimal d)
    {
        _dec = d;
        _dbl = (double)d;
        _isDecimal = true;
    }

    private FloatText(double d)
    {
        _dbl = d;
        _isDecimal = false;
    }

    public static FloatText Zero => new(0m);

    public static bool TryParse(ReadOnlySpan<byte> s, out FloatText value)
    {
        value = Zero;
        if (!Keyspace.Numbers.TryParseDouble(s, out var d))
        {
            return false;
        }

        var text = Encoding.ASCII.GetString(s);
        value = !double.IsInfinity(d) && decimal.TryParse(text, NumberStyles.Float, CultureInfo.InvariantCulture, out var m)
            ? new FloatText(m)
            : new FloatText(d);
        return true;
    }

    public static FloatText Parse(ReadOnlySpan<byte> s) => TryParse(s, out var v) ? v : Zero;

    /// <summary>Adds and formats; false when the sum is NaN or infinite.</summary>
    public static bool TryAdd(FloatText a, FloatText b, out byte[] text)
    {
        text = [];
        if (a._isDecimal && b._isDecimal)
        {
            try
            {
                text = Format(a._dec + b._dec);
                return true;
            }
            catch (OverflowException)
            {
                // Falls through to binary arithmetic.
            }
        }

        var sum = a._dbl + b._dbl;
        if (double.IsNaN(sum) || double.IsInfinity(sum))
        {
            return false;
        }

        var s = sum.ToString("F17", CultureInfo.InvariantCulture);
        text = Encoding.ASCII.GetBytes(Trim(s));
        return true;
    }

    private static byte[] Format(decimal d)
    {
        var rounded = decimal.Round(d, 17, MidpointRounding.ToEven);
        return Encoding.ASCII.GetBytes(Trim(rounded.ToString("F17", CultureInfo.InvariantCulture)));
    }

    private static string Trim(string s)
    {
        if (s.Contains('.', StringComparison.Ordinal))
        {
            s = s.TrimEnd('0').TrimEnd('.');
        }

        return s == "-0" ? "0" : s;
    }
}
