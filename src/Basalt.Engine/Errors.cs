using Basalt.Engine.Keyspace;

namespace Basalt.Engine;

/// <summary>Redis's error replies, byte for byte (server.c shared objects and t_*.c).</summary>
public static class Errors
{
    public static ReadOnlySpan<byte> WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value"u8;

    public static ReadOnlySpan<byte> NotInteger => "ERR value is not an integer or out of range"u8;

    public static ReadOnlySpan<byte> NotFloat => "ERR value is not a valid float"u8;

    public static ReadOnlySpan<byte> Syntax => "ERR syntax error"u8;

    public static ReadOnlySpan<byte> Overflow => "ERR increment or decrement would overflow"u8;

    public static ReadOnlySpan<byte> NoSuchKey => "ERR no such key"u8;

    public static ReadOnlySpan<byte> IntOutOfRange => "ERR value is out of range, value must between -2147483648 and 2147483647"u8;

    public static ReadOnlySpan<byte> DbOutOfRange => "ERR DB index is out of range"u8;

    public static ReadOnlySpan<byte> SameObject => "ERR source and destination objects are the same"u8;

    public static ReadOnlySpan<byte> StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)"u8;

    public static ReadOnlySpan<byte> InvalidCursor => "ERR invalid cursor"u8;

    /// <summary>
    /// Redis's getIntFromObjectOrReply without a message of its own (SELECT, MOVE, COPY DB): the error for an argument
    /// that is not an integer, or one outside int's range; empty when <paramref name="value"/> holds the argument.
    /// </summary>
    public static ReadOnlySpan<byte> IntArgument(ReadOnlySpan<byte> arg, out int value)
    {
        value = 0;
        if (!Numbers.TryParseLong(arg, out var v))
        {
            return NotInteger;
        }

        if (v is < int.MinValue or > int.MaxValue)
        {
            return IntOutOfRange;
        }

        value = (int)v;
        return default;
    }

    public static string InvalidExpire(string command) => $"ERR invalid expire time in '{command}' command";

    public static string WrongArity(string fullName) => $"ERR wrong number of arguments for '{fullName}' command";
}
