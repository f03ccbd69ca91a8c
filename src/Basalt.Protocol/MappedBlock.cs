using System.Runtime.InteropServices;

namespace Basalt.Protocol;

/// <summary>
/// A large buffer in an anonymous memory mapping of its own. Freeing it unmaps it, so its memory goes back to the
/// operating system at once, which neither the array pool (it keeps what it is given) nor the GC (an idle process
/// never collects; a collection keeps freed regions as budget) does: buffers of 256 MB of replies, each freed when its
/// client went, left an idle 4-shard server at 7 GB. Growing remaps the pages instead of copying them. One owner
/// thread at a time; the finalizer only catches a block that was never disposed.
/// </summary>
internal sealed unsafe partial class MappedBlock : IDisposable
{
    private const int PROT_READ = 1;
    private const int PROT_WRITE = 2;
    private const int MAP_PRIVATE = 2;
    private const int MAP_ANONYMOUS = 0x20;
    private const int MREMAP_MAYMOVE = 1;
    private const int PageSize = 4096;

    private static long s_mappedBytes;

    private byte* _address;

    /// <summary>Bytes mapped by every block alive now, in whole pages (INFO used_memory counts them with the managed heap).</summary>
    public static long MappedBytes => Interlocked.Read(ref s_mappedBytes);

    public MappedBlock(int length)
    {
        var size = Pages(length);
        var address = mmap(null, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (address == (void*)-1)
        {
            throw new BufferAllocationException($"mmap of {size} bytes failed: errno {Marshal.GetLastPInvokeError()}");
        }

        _address = (byte*)address;
        Length = length;
        Interlocked.Add(ref s_mappedBytes, (long)size);
    }

    ~MappedBlock() => Unmap();

    /// <summary>The usable bytes (the mapping is rounded up to whole pages).</summary>
    public int Length { get; private set; }

    public Span<byte> Span => new(_address, Length);

    /// <summary>Grows the block to <paramref name="length"/> bytes, keeping its contents; the pages move rather than being copied.</summary>
    public void Resize(int length)
    {
        var address = mremap(_address, Pages(Length), Pages(length), MREMAP_MAYMOVE);
        if (address == (void*)-1)
        {
            throw new BufferAllocationException($"mremap to {Pages(length)} bytes failed: errno {Marshal.GetLastPInvokeError()}");
        }

        Interlocked.Add(ref s_mappedBytes, (long)Pages(length) - (long)Pages(Length));
        _address = (byte*)address;
        Length = length;
    }

    public void Dispose()
    {
        Unmap();
        GC.SuppressFinalize(this);
    }

    private static nuint Pages(int length) => (nuint)(((long)length + PageSize - 1) / PageSize * PageSize);

    private void Unmap()
    {
        if (_address != null)
        {
            _ = munmap(_address, Pages(Length));
            Interlocked.Add(ref s_mappedBytes, -(long)Pages(Length));
            _address = null;
            Length = 0;
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mmap(void* addr, nuint length, int prot, int flags, int fd, nint offset);

    [LibraryImport("libc", SetLastError = true)]
    private static partial void* mremap(void* oldAddress, nuint oldSize, nuint newSize, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int munmap(void* addr, nuint length);
}
