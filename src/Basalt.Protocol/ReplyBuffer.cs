using System.Buffers.Text;
using System.Globalization;
using System.Text;

namespace Basalt.Protocol;

/// <summary>
/// Serialises replies in RESP2 or RESP3 into one growable buffer: an array from the shared pool up to
/// <see cref="BufferPool.MaxPooled"/>, past that a <see cref="MappedBlock"/>, whose memory goes back to the operating
/// system as soon as the buffer shrinks or is disposed.
/// Each method writes a whole value or a header; RESP2 fallbacks follow Redis (a map is a flat
/// array, a double is a bulk string, null is <c>$-1</c> or <c>*-1</c>).
/// </summary>
public sealed class ReplyBuffer : IDisposable
{
    private static readonly byte[] OkBytes = "+OK\r\n"u8.ToArray();
    private static readonly byte[] NullBulk2 = "$-1\r\n"u8.ToArray();
    private static readonly byte[] NullArray2 = "*-1\r\n"u8.ToArray();
    private static readonly byte[] Null3 = "_\r\n"u8.ToArray();

    // The bytes live in _array while small, else in _mapped (and _array is empty).
    private byte[] _array;
    private MappedBlock? _mapped;

    // Where writing must grow the buffer or pass the limit: the smaller of Capacity and Limit.
    private int _end;
    private int _limit = int.MaxValue;

    public ReplyBuffer(int initialSize = 4096)
    {
        _array = BufferPool.Rent(Math.Min(initialSize, BufferPool.MaxPooled));
        _end = Math.Min(_array.Length, _limit);
    }

    /// <summary>
    /// The length the buffer may reach: a write that would pass it throws <see cref="OutputLimitException"/> and marks the
    /// buffer <see cref="Overflowed"/>, so one command can't build more for a client than it may hold (an MGET naming one
    /// big value a thousand times). The owner sets it from the client's output limit; unset, only the 2 GB a buffer can
    /// hold bounds it.
    /// </summary>
    public int Limit
    {
        get => _limit;
        set
        {
            _limit = Math.Max(0, value);
            _end = Math.Min(Capacity, _limit);
        }
    }

    /// <summary>A write would have passed <see cref="Limit"/> since the buffer was last cleared: its client is to be cut off.</summary>
    public bool Overflowed { get; private set; }

    /// <summary>Marks the buffer over its limit: a reply meant for it was dropped for its size somewhere else.</summary>
    public void MarkOverflowed() => Overflowed = true;

    /// <summary>2 or 3; chosen by HELLO.</summary>
    public int Protocol { get; set; } = 2;

    public int Length { get; private set; }

    /// <summary>The bytes the buffer can hold before it grows.</summary>
    public int Capacity => _mapped?.Length ?? _array.Length;

    public ReadOnlySpan<byte> WrittenSpan => Memory[..Length];

    private Span<byte> Memory => _mapped is { } m ? m.Span : _array;

    public void Clear()
    {
        Length = 0;
        Overflowed = false;
    }

    /// <summary>Removes the first <paramref name="count"/> bytes (sent), keeping the rest.</summary>
    public void Consume(int count)
    {
        if (count >= Length)
        {
            Length = 0;
            return;
        }

        var memory = Memory;
        memory[count..Length].CopyTo(memory);
        Length -= count;
    }

    /// <summary>Cuts the buffer back to <paramref name="length"/> (drops a partially written reply).</summary>
    public void Truncate(int length) => Length = length;

    /// <summary>Gives back an oversized buffer once it is empty, so one huge reply doesn't pin memory.</summary>
    public void Shrink(int keepAtMost)
    {
        if (Length == 0 && Capacity > keepAtMost)
        {
            Release();
            _array = BufferPool.Rent(4096);
            _end = Math.Min(_array.Length, _limit);
        }
    }

    public Span<byte> GetSpan(int size)
    {
        // Unsigned, so a size that overflowed int on the way here (a value near 2 GB plus its header) still goes to
        // Grow, which refuses it, instead of passing as negative.
        if ((uint)size > (uint)(_end - Length))
        {
            Grow(size);
        }

        return Memory[Length..];
    }

    public void Advance(int count) => Length += count;

    public void WriteRaw(ReadOnlySpan<byte> bytes)
    {
        bytes.CopyTo(GetSpan(bytes.Length));
        Length += bytes.Length;
    }

    public void Ok() => WriteRaw(OkBytes);

    public void SimpleString(ReadOnlySpan<byte> s)
    {
        var span = GetSpan(s.Length + 3);
        span[0] = (byte)'+';
        s.CopyTo(span[1..]);
        span[s.Length + 1] = (byte)'\r';
        span[s.Length + 2] = (byte)'\n';
        Length += s.Length + 3;
    }

    public void SimpleString(string s) => SimpleString(Encoding.UTF8.GetBytes(s));

    /// <summary>An error line; <paramref name="message"/> includes its code, e.g. <c>ERR syntax error</c>.</summary>
    public void Error(ReadOnlySpan<byte> message)
    {
        var span = GetSpan(message.Length + 3);
        span[0] = (byte)'-';
        message.CopyTo(span[1..]);
        span[message.Length + 1] = (byte)'\r';
        span[message.Length + 2] = (byte)'\n';
        Length += message.Length + 3;
    }

    public void Error(string message)
    {
        // Redis replaces newlines in error text so the reply stays one line.
        Error(Encoding.UTF8.GetBytes(message.Replace('\r', ' ').Replace('\n', ' ')));
    }

    public void Integer(long value) => Prefixed((byte)':', value);

    public void Bulk(ReadOnlySpan<byte> value)
    {
        var span = GetSpan(value.Length + 24);
        span[0] = (byte)'$';
        Utf8Formatter.TryFormat(value.Length, span[1..], out var n);
        var p = n + 1;
        span[p++] = (byte)'\r';
        span[p++] = (byte)'\n';
        value.CopyTo(span[p..]);
        p += value.Length;
        span[p++] = (byte)'\r';
        span[p++] = (byte)'\n';
        Length += p;
    }

    public void Bulk(string value) => Bulk(Encoding.UTF8.GetBytes(value));

    /// <summary>An integer sent as a bulk string (e.g. INCRBYFLOAT's reply).</summary>
    public void BulkInteger(long value)
    {
        Span<byte> tmp = stackalloc byte[24];
        Utf8Formatter.TryFormat(value, tmp, out var n);
        Bulk(tmp[..n]);
    }

    public void NullBulk() => WriteRaw(Protocol == 3 ? Null3 : NullBulk2);

    public void NullArray() => WriteRaw(Protocol == 3 ? Null3 : NullArray2);

    public void ArrayHeader(int count) => Prefixed((byte)'*', count);

    /// <summary>RESP3 map header; in RESP2 a flat array of 2×count elements.</summary>
    public void MapHeader(int count)
    {
        if (Protocol == 3)
        {
            Prefixed((byte)'%', count);
        }
        else
        {
            Prefixed((byte)'*', count * 2L);
        }
    }

    public void SetHeader(int count) => Prefixed(Protocol == 3 ? (byte)'~' : (byte)'*', count);

    public void PushHeader(int count) => Prefixed(Protocol == 3 ? (byte)'>' : (byte)'*', count);

    public void Boolean(bool value)
    {
        if (Protocol == 3)
        {
            WriteRaw(value ? "#t\r\n"u8 : "#f\r\n"u8);
        }
        else
        {
            Integer(value ? 1 : 0);
        }
    }

    /// <summary>A double: RESP3 <c>,</c> type, RESP2 bulk string, in Redis's shortest round-trip form.</summary>
    public void Double(double value)
    {
        Span<byte> tmp = stackalloc byte[40];
        var n = FormatDouble(value, tmp);
        if (Protocol == 3)
        {
            var span = GetSpan(n + 3);
            span[0] = (byte)',';
            tmp[..n].CopyTo(span[1..]);
            span[n + 1] = (byte)'\r';
            span[n + 2] = (byte)'\n';
            Length += n + 3;
        }
        else
        {
            Bulk(tmp[..n]);
        }
    }

    /// <summary>Verbatim text (RESP3 <c>=</c> with a 3-letter format); a bulk string in RESP2.</summary>
    public void Verbatim(ReadOnlySpan<byte> text, string format = "txt")
    {
        if (Protocol != 3)
        {
            Bulk(text);
            return;
        }

        var total = text.Length + 4;
        var span = GetSpan(total + 24);
        span[0] = (byte)'=';
        Utf8Formatter.TryFormat(total, span[1..], out var n);
        var p = n + 1;
        span[p++] = (byte)'\r';
        span[p++] = (byte)'\n';
        p += Encoding.ASCII.GetBytes(format, span[p..]);
        span[p++] = (byte)':';
        text.CopyTo(span[p..]);
        p += text.Length;
        span[p++] = (byte)'\r';
        span[p++] = (byte)'\n';
        Length += p;
    }

    /// <summary>Formats like Redis's <c>%.17g</c> reply for doubles: shortest text that round-trips.</summary>
    public static int FormatDouble(double value, Span<byte> dest)
    {
        if (double.IsPositiveInfinity(value))
        {
            "inf"u8.CopyTo(dest);
            return 3;
        }

        if (double.IsNegativeInfinity(value))
        {
            "-inf"u8.CopyTo(dest);
            return 4;
        }

        if (double.IsNaN(value))
        {
            "nan"u8.CopyTo(dest);
            return 3;
        }

        value.TryFormat(dest, out var n, "R", CultureInfo.InvariantCulture);
        return n;
    }

    public void Dispose()
    {
        Release();
        Length = 0;
        _end = 0;
    }

    private void Release()
    {
        if (_mapped is { } m)
        {
            m.Dispose();
            _mapped = null;
        }
        else
        {
            BufferPool.Return(_array);
        }

        _array = [];
    }

    private void Prefixed(byte prefix, long value)
    {
        var span = GetSpan(24);
        span[0] = prefix;
        Utf8Formatter.TryFormat(value, span[1..], out var n);
        span[n + 1] = (byte)'\r';
        span[n + 2] = (byte)'\n';
        Length += n + 3;
    }

    private void Grow(int size)
    {
        if (size < 0 || (long)Length + size > Array.MaxLength)
        {
            throw new BufferAllocationException($"a reply buffer can't hold more than {Array.MaxLength} bytes");
        }

        if ((long)Length + size > _limit)
        {
            Overflowed = true;
            throw new OutputLimitException($"a reply of {Length + (long)size} bytes passes the client's output limit of {_limit} bytes");
        }

        if ((long)Length + size <= Capacity)
        {
            // Room enough, below a limit set lower than a capacity the buffer had grown to before.
            return;
        }

        var want = (int)Math.Min(Math.Max((long)Capacity * 2, (long)Length + size), Array.MaxLength);
        if (_mapped is { } m)
        {
            m.Resize(want);
        }
        else if (want <= BufferPool.MaxPooled)
        {
            var next = BufferPool.Rent(want);
            _array.AsSpan(0, Length).CopyTo(next);
            BufferPool.Return(_array);
            _array = next;
        }
        else
        {
            var mapped = new MappedBlock(want);
            _array.AsSpan(0, Length).CopyTo(mapped.Span);
            BufferPool.Return(_array);
            _array = [];
            _mapped = mapped;
        }

        _end = Math.Min(Capacity, _limit);
    }
}
