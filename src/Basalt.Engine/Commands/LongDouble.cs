using System.Numerics;

namespace Basalt.Engine.Commands;

/// <summary>
/// INCRBYFLOAT's arithmetic, as Redis does it: C's <c>long double</c>, which on x86-64 Linux is the x87 80-bit
/// extended format (64-bit significand, exponents -16382..16383, subnormals below). Redis parses both numbers with
/// <c>strtold</c>, adds them, and prints the sum with <c>"%.17Lf"</c>, trailing zeros trimmed. Neither a double nor
/// a decimal gives the same text once a value needs more than about 16 significant digits (12345678901234567890 + 1
/// is 12345678901234567890 in long double), so this emulates the format exactly: parsing, adding and printing
/// round to nearest, ties to even, on exact big-integer arithmetic. It allocates; INCRBYFLOAT is not a hot path.
/// </summary>
internal readonly struct LongDouble
{
    /// <summary>Redis's MAX_LONG_DOUBLE_CHARS: string2ld refuses strings this long or longer.</summary>
    public const int MaxChars = 5 * 1024;

    // value = (-1)^sign * Significand * 2^Exponent. A normal number has the significand's top bit (2^63) set; a
    // subnormal has the smallest exponent and a smaller significand.
    private const int SignificandBits = 64;
    private const int MinExponent = -16382 - 63;
    private const int MaxExponent = 16383 - 63;

    private static readonly BigInteger TenPow17 = BigInteger.Pow(10, 17);

    private readonly BigInteger _significand;
    private readonly int _exponent;
    private readonly bool _negative;
    private readonly bool _infinite;

    private LongDouble(bool negative, BigInteger significand, int exponent, bool infinite)
    {
        _negative = negative;
        _significand = significand;
        _exponent = exponent;
        _infinite = infinite;
    }

    public static LongDouble Zero => default;

    /// <summary>
    /// Redis's string2ld: strtold over the bytes, refusing an empty or over-long string, leading white space, any byte
    /// strtold leaves unparsed (a NUL included), NaN, and a result that overflowed or underflowed to zero. "inf" parses.
    /// </summary>
    public static bool TryParse(ReadOnlySpan<byte> s, out LongDouble value)
    {
        value = Zero;
        if (s.IsEmpty || s.Length >= MaxChars || IsCSpace(s[0]))
        {
            return false;
        }

        var i = 0;
        var negative = false;
        if (s[0] is (byte)'+' or (byte)'-')
        {
            negative = s[0] == '-';
            i++;
        }

        var rest = s[i..];
        if (StartsWithIgnoreCase(rest, "infinity"u8) || StartsWithIgnoreCase(rest, "inf"u8))
        {
            var len = StartsWithIgnoreCase(rest, "infinity"u8) ? 8 : 3;
            value = new LongDouble(negative, BigInteger.Zero, 0, infinite: true);
            return len == rest.Length;
        }

        // NaN in any spelling is refused, as is anything strtold cannot convert (it would leave bytes unparsed).
        if (rest.Length > 2 && rest[0] == '0' && (rest[1] | 0x20) == 'x' && IsHexDigitOrPoint(rest[2..]))
        {
            return TryParseHex(rest[2..], negative, out value);
        }

        return TryParseDecimal(rest, negative, out value);
    }

    /// <summary>The sum, rounded to the format; false when it is infinite or NaN (Redis refuses to store it).</summary>
    public static bool TryAdd(LongDouble a, LongDouble b, out LongDouble sum)
    {
        sum = Zero;
        if (a._infinite || b._infinite)
        {
            return false;
        }

        if (a._significand.IsZero && b._significand.IsZero)
        {
            // Round to nearest: -0 + -0 is -0, any other sum of zeros is +0.
            sum = new LongDouble(a._negative && b._negative, BigInteger.Zero, 0, infinite: false);
            return true;
        }

        if (a._significand.IsZero)
        {
            sum = b;
            return true;
        }

        if (b._significand.IsZero)
        {
            sum = a;
            return true;
        }

        var exponent = Math.Min(a._exponent, b._exponent);
        var x = a.Signed() << (a._exponent - exponent);
        var y = b.Signed() << (b._exponent - exponent);
        var total = x + y;
        if (total.IsZero)
        {
            sum = Zero;
            return true;
        }

        sum = Round(total.Sign < 0, BigInteger.Abs(total), BigInteger.One, exponent);
        return !sum._infinite;
    }

    /// <summary>Redis's ld2string in LD_STR_HUMAN mode: "%.17Lf", trailing zeros and point trimmed, "-0" as "0".</summary>
    public byte[] ToHumanText()
    {
        // Scale by 10^17 and round to an integer, ties to even, as glibc's printf does in the default rounding mode.
        BigInteger scaled;
        if (_exponent >= 0)
        {
            scaled = (_significand << _exponent) * TenPow17;
        }
        else
        {
            var num = _significand * TenPow17;
            var shift = -_exponent;
            scaled = num >> shift;
            var remainder = num - (scaled << shift);
            var half = BigInteger.One << (shift - 1);
            var cmp = remainder.CompareTo(half);
            if (cmp > 0 || (cmp == 0 && !scaled.IsEven))
            {
                scaled += BigInteger.One;
            }
        }

        var digits = scaled.ToString(System.Globalization.CultureInfo.InvariantCulture).PadLeft(18, '0');
        var intPart = digits.AsSpan(0, digits.Length - 17);
        var frac = digits.AsSpan(digits.Length - 17).TrimEnd('0');
        var text = frac.IsEmpty ? intPart.ToString() : string.Concat(intPart, ".", frac);
        if (_negative && text != "0")
        {
            text = "-" + text;
        }

        return System.Text.Encoding.ASCII.GetBytes(text);
    }

    private BigInteger Signed() => _negative ? -_significand : _significand;

    /// <summary>
    /// Rounds the exact positive value num / den * 2^exp2 to the format: round to nearest, ties to even; infinite
    /// past the largest finite value, zero below half the smallest subnormal.
    /// </summary>
    private static LongDouble Round(bool negative, BigInteger num, BigInteger den, long exp2)
    {
        // floor(log2(num / den)) is bits(num) - bits(den) or one less.
        var log2 = (long)num.GetBitLength() - (long)den.GetBitLength() + exp2;
        if (log2 > MaxExponent + SignificandBits)
        {
            return new LongDouble(negative, BigInteger.Zero, 0, infinite: true);
        }

        if (log2 < MinExponent - 2)
        {
            return new LongDouble(negative, BigInteger.Zero, 0, infinite: false);
        }

        var exponent = Math.Max(MinExponent, log2 - SignificandBits);
        while (true)
        {
            // significand = num / den * 2^(exp2 - exponent), split into quotient and remainder.
            var shift = exp2 - exponent;
            var n = shift >= 0 ? num << (int)shift : num;
            var d = shift >= 0 ? den : den << (int)-shift;
            var q = BigInteger.DivRem(n, d, out var r);
            if (q.GetBitLength() > SignificandBits)
            {
                exponent++;
                continue;
            }

            var cmp = (r << 1).CompareTo(d);
            if (cmp > 0 || (cmp == 0 && !q.IsEven))
            {
                q += BigInteger.One;
                if (q.GetBitLength() > SignificandBits)
                {
                    q >>= 1;
                    exponent++;
                }
            }

            if (exponent > MaxExponent)
            {
                return new LongDouble(negative, BigInteger.Zero, 0, infinite: true);
            }

            return new LongDouble(negative, q, q.IsZero ? 0 : (int)exponent, infinite: false);
        }
    }

    private static bool TryParseDecimal(ReadOnlySpan<byte> s, bool negative, out LongDouble value)
    {
        value = Zero;
        var i = 0;
        var digits = new System.Text.StringBuilder();
        var anyDigit = false;
        long fractionDigits = 0;
        while (i < s.Length && IsDigit(s[i]))
        {
            digits.Append((char)s[i++]);
            anyDigit = true;
        }

        if (i < s.Length && s[i] == '.')
        {
            i++;
            while (i < s.Length && IsDigit(s[i]))
            {
                digits.Append((char)s[i++]);
                fractionDigits++;
                anyDigit = true;
            }
        }

        if (!anyDigit)
        {
            return false;
        }

        if (!TryParseTail(s, i, (byte)'e', out var exp10))
        {
            return false;
        }

        var mantissa = BigInteger.Parse(digits.ToString(), System.Globalization.CultureInfo.InvariantCulture);
        if (mantissa.IsZero)
        {
            value = new LongDouble(negative, BigInteger.Zero, 0, infinite: false);
            return true;
        }

        // Out-of-range decimal exponents are settled before any power of ten is built: the value is below
        // 10^magnitude and at least 10^(magnitude - 1). No finite long double reaches 10^4933, and every value below
        // 10^-4952 rounds to zero; both are strtold's ERANGE, which string2ld refuses.
        var significant = digits.Length;
        while (significant > 0 && digits[digits.Length - significant] == '0')
        {
            significant--;
        }

        var magnitude = exp10 - fractionDigits + significant;
        if (magnitude > 4934 || magnitude < -4952)
        {
            return false;
        }

        var scale = exp10 - fractionDigits;
        value = scale >= 0
            ? Round(negative, mantissa * BigInteger.Pow(10, (int)scale), BigInteger.One, 0)
            : Round(negative, mantissa, BigInteger.Pow(10, (int)-scale), 0);

        // strtold's ERANGE on overflow (HUGE_VALL) or on an underflow to zero: string2ld refuses both.
        return !value._infinite && !value._significand.IsZero;
    }

    private static bool TryParseHex(ReadOnlySpan<byte> s, bool negative, out LongDouble value)
    {
        value = Zero;
        var i = 0;
        var mantissa = BigInteger.Zero;
        long fractionDigits = 0;
        while (i < s.Length && HexValue(s[i]) >= 0)
        {
            mantissa = (mantissa << 4) + HexValue(s[i++]);
        }

        if (i < s.Length && s[i] == '.')
        {
            i++;
            while (i < s.Length && HexValue(s[i]) >= 0)
            {
                mantissa = (mantissa << 4) + HexValue(s[i++]);
                fractionDigits++;
            }
        }

        if (!TryParseTail(s, i, (byte)'p', out var exp2))
        {
            return false;
        }

        if (mantissa.IsZero)
        {
            value = new LongDouble(negative, BigInteger.Zero, 0, infinite: false);
            return true;
        }

        value = Round(negative, mantissa, BigInteger.One, exp2 - (4 * fractionDigits));
        return !value._infinite && !value._significand.IsZero;
    }

    /// <summary>
    /// What may follow the digits at <paramref name="i"/>: an optional exponent after <paramref name="marker"/> ('e' for
    /// decimal, 'p' for hex), and then nothing. A marker without digits is left unparsed, as strtold does.
    /// </summary>
    private static bool TryParseTail(ReadOnlySpan<byte> s, int i, byte marker, out long exponent)
    {
        exponent = 0;
        if (i < s.Length && (s[i] | 0x20) == marker && TryParseExponent(s[(i + 1)..], out exponent, out var used))
        {
            i += 1 + used;
        }

        return i == s.Length;
    }

    /// <summary>An exponent's optional sign and digits, saturated far past any finite range; false without a digit.</summary>
    private static bool TryParseExponent(ReadOnlySpan<byte> s, out long exponent, out int used)
    {
        exponent = 0;
        used = 0;
        var negative = false;
        if (used < s.Length && s[used] is (byte)'+' or (byte)'-')
        {
            negative = s[used] == '-';
            used++;
        }

        var start = used;
        while (used < s.Length && IsDigit(s[used]))
        {
            exponent = Math.Min((exponent * 10) + (s[used] - '0'), 1_000_000_000);
            used++;
        }

        if (used == start)
        {
            used = 0;
            return false;
        }

        if (negative)
        {
            exponent = -exponent;
        }

        return true;
    }

    private static bool IsHexDigitOrPoint(ReadOnlySpan<byte> s) =>
        HexValue(s[0]) >= 0 || (s[0] == '.' && s.Length > 1 && HexValue(s[1]) >= 0);

    private static int HexValue(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        >= (byte)'A' and <= (byte)'F' => c - 'A' + 10,
        _ => -1,
    };

    private static bool IsDigit(byte c) => c is >= (byte)'0' and <= (byte)'9';

    private static bool IsCSpace(byte c) => c is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r';

    private static bool StartsWithIgnoreCase(ReadOnlySpan<byte> s, ReadOnlySpan<byte> word)
    {
        if (s.Length < word.Length)
        {
            return false;
        }

        for (var i = 0; i < word.Length; i++)
        {
            if ((s[i] | 0x20) != word[i])
            {
                return false;
            }
        }

        return true;
    }
}
