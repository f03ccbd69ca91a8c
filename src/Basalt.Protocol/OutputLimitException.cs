namespace Basalt.Protocol;

/// <summary>
/// A reply would have passed its buffer's <see cref="ReplyBuffer.Limit"/>: the client's output limit. The buffer keeps
/// what it held and is marked <see cref="ReplyBuffer.Overflowed"/>; whoever runs the command drops its partial reply,
/// and the client is cut off as one over client-output-buffer-limit is.
/// </summary>
public sealed class OutputLimitException : Exception
{
    public OutputLimitException()
    {
    }

    public OutputLimitException(string message)
        : base(message)
    {
    }

    public OutputLimitException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
