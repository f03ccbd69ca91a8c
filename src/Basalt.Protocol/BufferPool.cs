using System.Buffers;

namespace Basalt.Protocol;

/// <summary>
/// Byte arrays for buffers that are usually small but may grow large (a connection's input, a reply buffer while
/// small). Up to <see cref="MaxPooled"/> they come from <see cref="ArrayPool{T}.Shared"/>; larger ones are allocated for
/// the one use and left to the GC when given back. The shared pool keeps what it is given, per core and per size, for
/// as long as the process runs, so a burst of 256 MB buffers would stay in it for good.
/// </summary>
public static class BufferPool
{
    /// <summary>The largest array that goes back to the shared pool.</summary>
    public const int MaxPooled = 1024 * 1024;

    /// <summary>Bytes held now by reply buffers past <see cref="MaxPooled"/>, which live outside the managed heap (MappedBlock).</summary>
    public static long MappedBytes => MappedBlock.MappedBytes;

    /// <summary>What the server holds for data and buffers: the managed heap plus the mapped reply buffers (INFO used_memory).</summary>
    public static long UsedMemory => GC.GetTotalMemory(false) + MappedBlock.MappedBytes;

    /// <summary>An array of at least <paramref name="minimumLength"/> bytes, its contents undefined.</summary>
    public static byte[] Rent(int minimumLength) =>
        minimumLength <= MaxPooled ? ArrayPool<byte>.Shared.Rent(minimumLength) : GC.AllocateUninitializedArray<byte>(minimumLength);

    /// <summary>Gives back an array from <see cref="Rent"/>: to the shared pool if it came from there, else to the GC.</summary>
    public static void Return(byte[] array)
    {
        if (array.Length is > 0 and <= MaxPooled)
        {
            ArrayPool<byte>.Shared.Return(array);
        }
    }
}
