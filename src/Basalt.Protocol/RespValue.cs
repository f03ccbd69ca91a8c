using System.Buffers.Text;
using System.Text;

namespace Basalt.Protocol;

public enum RespType : byte
{
    SimpleString = (byte)'+',
    Error = (byte)'-',
    Integer = (byte)':',
    BulkString = (byte)'$',
    Array = (byte)'*',
    Null = (byte)'_',
    Boolean = (byte)'#',
    Double = (byte)',',
    BigNumber = (byte)'(',
    BulkError = (byte)'!',
    Verbatim = (byte)'=',
    Map = (byte)'%',
    Set = (byte)'~',
    Attribute = (byte)'|',
    Push = (byte)'>',
}

/// <summary>
/// A fully materialised RESP2/RESP3 value. Used by clients and tests, never on the server's hot path.
/// RESP2 nulls (<c>$-1</c>, <c>*-1</c>) keep their wire type with <see cref="IsNull"/> set, so replies
/// compare byte-faithfully.
/// </summary>
public sealed class RespValue : IEquatable<RespValue>
{
    public RespType Type { get; init; }

    /// <summary>Payload of strings, errors, doubles, big numbers and verbatim text (with its "txt:" prefix).</summary>
    public byte[]? Bytes { get; init; }

    private readonly long _integer;

    /// <summary>
    /// The number of an integer reply, or a RESP3 boolean's 1 or 0. Read off any other reply it throws: an error or a
    /// nil has no number, and reading one as 0 would let a check that expects 0 pass on an error.
    /// </summary>
    public long Integer
    {
        get => Type is RespType.Integer or RespType.Boolean ? _integer : throw new InvalidOperationException($"not an integer reply: {this}");
        init => _integer = value;
    }

    public bool IsNull { get; init; }

    /// <summary>Children of arrays, sets, pushes, and maps/attributes (as key, value, key, value…).</summary>
    public IReadOnlyList<RespValue>? Items { get; init; }

    public string Text => Bytes is null ? string.Empty : Encoding.UTF8.GetString(Bytes);

    public bool Equals(RespValue? other)
    {
        if (other is null || other.Type != Type || other.IsNull != IsNull || other._integer != _integer)
        {
            return false;
        }

        if (!(Bytes ?? []).AsSpan().SequenceEqual(other.Bytes ?? []))
        {
            return false;
        }

        var a = Items ?? [];
        var b = other.Items ?? [];
        if (a.Count != b.Count)
        {
            return false;
        }

        for (var i = 0; i < a.Count; i++)
        {
            if (!a[i].Equals(b[i]))
            {
                return false;
            }
        }

        return true;
    }

    public override bool Equals(object? obj) => Equals(obj as RespValue);

    public override int GetHashCode() => HashCode.Combine(Type, _integer, IsNull, Items?.Count ?? -1, Bytes?.Length ?? -1);

    /// <summary>A readable rendering, in the style of redis-cli, for test failure messages.</summary>
    public override string ToString()
    {
        var sb = new StringBuilder();
        Render(sb);
        return sb.ToString();
    }

    private void Render(StringBuilder sb)
    {
        if (IsNull)
        {
            sb.Append(Type == RespType.Null ? "(null)" : $"(null {(char)Type})");
            return;
        }

        switch (Type)
        {
            case RespType.Integer:
                sb.Append("(integer) ").Append(Integer);
                break;
            case RespType.Boolean:
                sb.Append(Integer != 0 ? "(true)" : "(false)");
                break;
            case RespType.Array or RespType.Set or RespType.Push or RespType.Map or RespType.Attribute:
                sb.Append((char)Type).Append('[');
                for (var i = 0; i < Items!.Count; i++)
                {
                    if (i > 0)
                    {
                        sb.Append(", ");
                    }

                    Items[i].Render(sb);
                }

                sb.Append(']');
                break;
            default:
                sb.Append((char)Type).Append('"');
                foreach (var b in Bytes!)
                {
                    if (b is >= 32 and < 127 and not (byte)'"' and not (byte)'\\')
                    {
                        sb.Append((char)b);
                    }
                    else
                    {
                        sb.Append("\\x").Append(b.ToString("x2", System.Globalization.CultureInfo.InvariantCulture));
                    }
                }

                sb.Append('"');
                break;
        }
    }
}

/// <summary>Reads whole RESP values from a buffer; returns false when more bytes are needed.</summary>
public static class RespValueReader
{
    public const int MaxDepth = 64;

    /// <summary>Thrown for bytes that are not RESP.</summary>
    public sealed class FormatError(string message) : Exception(message);

    public static bool TryRead(ReadOnlySpan<byte> data, out RespValue? value, out int consumed)
    {
        var pos = 0;
        value = Read(data, ref pos, 0);
        consumed = value is null ? 0 : pos;
        return value is not null;
    }

    private static RespValue? Read(ReadOnlySpan<byte> data, ref int pos, int depth)
    {
        if (depth > MaxDepth)
        {
            throw new FormatError("nesting too deep");
        }

        if (pos >= data.Length)
        {
            return null;
        }

        var type = (RespType)data[pos];
        var lineEnd = data[pos..].IndexOf("\r\n"u8);
        if (lineEnd < 0)
        {
            return null;
        }

        if (lineEnd == 0)
        {
            throw new FormatError("a line with no type byte");
        }

        var line = data.Slice(pos + 1, lineEnd - 1);
        var next = pos + lineEnd + 2;
        switch (type)
        {
            case RespType.SimpleString or RespType.Error or RespType.Double or RespType.BigNumber:
                pos = next;
                return new RespValue { Type = type, Bytes = line.ToArray() };
            case RespType.Integer:
                pos = next;
                return new RespValue { Type = type, Integer = ParseLong(line) };
            case RespType.Null:
                pos = next;
                return new RespValue { Type = type, IsNull = true };
            case RespType.Boolean:
                pos = next;
                return line.Length == 1 && line[0] is (byte)'t' or (byte)'f'
                    ? new RespValue { Type = type, Integer = line[0] == (byte)'t' ? 1 : 0 }
                    : throw new FormatError("bad boolean");
            case RespType.BulkString or RespType.BulkError or RespType.Verbatim:
                {
                    var len = ParseLong(line);
                    if (len == -1 && type == RespType.BulkString)
                    {
                        pos = next;
                        return new RespValue { Type = type, IsNull = true };
                    }

                    if (len < 0 || len > int.MaxValue)
                    {
                        throw new FormatError("bad bulk length");
                    }

                    if (next + len + 2 > data.Length)
                    {
                        return null;
                    }

                    if (data[next + (int)len] != '\r' || data[next + (int)len + 1] != '\n')
                    {
                        throw new FormatError("bulk not terminated by CRLF");
                    }

                    pos = next + (int)len + 2;
                    return new RespValue { Type = type, Bytes = data.Slice(next, (int)len).ToArray() };
                }

            case RespType.Array or RespType.Set or RespType.Push or RespType.Map or RespType.Attribute:
                {
                    var count = ParseLong(line);
                    if (count == -1 && type == RespType.Array)
                    {
                        pos = next;
                        return new RespValue { Type = type, IsNull = true };
                    }

                    if (count < 0 || count > 1 << 24)
                    {
                        throw new FormatError("bad aggregate length");
                    }

                    var n = type is RespType.Map or RespType.Attribute ? count * 2 : count;
                    var items = new List<RespValue>((int)Math.Min(n, 1024));
                    var p = next;
                    for (var i = 0; i < n; i++)
                    {
                        var item = Read(data, ref p, depth + 1);
                        if (item is null)
                        {
                            return null;
                        }

                        items.Add(item);
                    }

                    pos = p;
                    return new RespValue { Type = type, Items = items };
                }

            default:
                throw new FormatError($"unknown RESP type byte 0x{(byte)type:x2}");
        }
    }

    private static long ParseLong(ReadOnlySpan<byte> s) =>
        Utf8Parser.TryParse(s, out long v, out var used) && used == s.Length ? v : throw new FormatError("bad integer");
}

/// <summary>Encodes a client request as a RESP multibulk array of bulk strings.</summary>
public static class RespRequest
{
    public static byte[] Encode(IReadOnlyList<byte[]> args)
    {
        var size = 16;
        foreach (var a in args)
        {
            size += a.Length + 16;
        }

        using var o = new ReplyBuffer(size);
        o.ArrayHeader(args.Count);
        foreach (var a in args)
        {
            o.Bulk(a);
        }

        return o.WrittenSpan.ToArray();
    }
}

/// <summary>Writes <see cref="RespValue"/>s back to bytes: the inverse of <see cref="RespValueReader"/>.</summary>
public static class RespValueWriter
{
    public static void Write(RespValue v, ReplyBuffer o)
    {
        if (v.IsNull)
        {
            o.WriteRaw(v.Type switch
            {
                RespType.BulkString => "$-1\r\n"u8,
                RespType.Array => "*-1\r\n"u8,
                _ => "_\r\n"u8,
            });
            return;
        }

        switch (v.Type)
        {
            case RespType.Integer:
                o.Integer(v.Integer);
                break;
            case RespType.Boolean:
                o.WriteRaw(v.Integer != 0 ? "#t\r\n"u8 : "#f\r\n"u8);
                break;
            case RespType.SimpleString or RespType.Error or RespType.Double or RespType.BigNumber:
                o.WriteRaw([(byte)v.Type]);
                o.WriteRaw(v.Bytes);
                o.WriteRaw("\r\n"u8);
                break;
            case RespType.BulkString or RespType.BulkError or RespType.Verbatim:
                o.WriteRaw([(byte)v.Type]);
                o.WriteRaw(Encoding.ASCII.GetBytes(v.Bytes!.Length.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                o.WriteRaw("\r\n"u8);
                o.WriteRaw(v.Bytes);
                o.WriteRaw("\r\n"u8);
                break;
            default:
                var count = v.Type is RespType.Map or RespType.Attribute ? v.Items!.Count / 2 : v.Items!.Count;
                o.WriteRaw([(byte)v.Type]);
                o.WriteRaw(Encoding.ASCII.GetBytes(count.ToString(System.Globalization.CultureInfo.InvariantCulture)));
                o.WriteRaw("\r\n"u8);
                foreach (var item in v.Items)
                {
                    Write(item, o);
                }

                break;
        }
    }
}
