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

    public static ReadOnlySpan<byte> DbOutOfRange => "ERR DB index is out of range"u8;

    public static ReadOnlySpan<byte> SameObject => "ERR source and destination objects are the same"u8;

    public static ReadOnlySpan<byte> StringTooLong => "ERR string exceeds maximum allowed size (proto-max-bulk-len)"u8;

    public static ReadOnlySpan<byte> InvalidCursor => "ERR invalid cursor"u8;

    public static string InvalidExpire(string command) => $"ERR invalid expire time in '{command}' command";

    public static string WrongArity(string fullName) => $"ERR wrong number of arguments for '{fullName}' command";
}
