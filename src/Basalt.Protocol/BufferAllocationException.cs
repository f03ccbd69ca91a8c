namespace Basalt.Protocol;

/// <summary>
/// A buffer could not grow: the system refused the memory (mmap or mremap failed: strict overcommit, an address-space
/// limit), or the buffer would pass the 2 GB one buffer can hold. The buffer is as it was, so only the request that
/// needed the room fails; the process's own heap is not in question, which is what sets it apart from
/// <see cref="OutOfMemoryException"/>, on which a loop stops the server.
/// </summary>
public sealed class BufferAllocationException : Exception
{
    public BufferAllocationException()
    {
    }

    public BufferAllocationException(string message)
        : base(message)
    {
    }

    public BufferAllocationException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}
