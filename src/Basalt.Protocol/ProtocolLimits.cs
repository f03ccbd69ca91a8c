namespace Basalt.Protocol;

/// <summary>Redis's request limits (networking.c): the reader refuses anything larger.</summary>
public sealed class ProtocolLimits
{
    /// <summary>Largest element count of one multibulk request (Redis: 1024*1024).</summary>
    public int MaxMultibulkLength { get; set; } = 1024 * 1024;

    /// <summary><c>proto-max-bulk-len</c>: largest single argument (Redis default 512 MB).</summary>
    public long MaxBulkLength { get; set; } = 512L * 1024 * 1024;

    /// <summary>Longest inline request or count line without a newline (Redis PROTO_INLINE_MAX_SIZE).</summary>
    public int MaxInlineLength { get; set; } = 64 * 1024;

    public static ProtocolLimits Default { get; } = new();
}
