using System.Runtime.InteropServices;

namespace Basalt.Engine;

/// <summary>
/// Seeded 64-bit hash for keyspace tables (multiply-fold over 8-byte words). The seed is random
/// per process, so a client can't precompute colliding keys (Redis uses SipHash for the same reason).
/// </summary>
public static class KeyHash
{
    private const ulong P0 = 0xa0761d6478bd642f;
    private const ulong P1 = 0xe7037ed1a0b428db;
    private static readonly ulong Seed = (ulong)Random.Shared.NextInt64() | 1;

    public static ulong Of(ReadOnlySpan<byte> data)
    {
        var h = Seed ^ ((ulong)data.Length * P1);
        if (data.Length > 8)
        {
            // Whole words, then the last 8 bytes read as one word (overlapping the words before when the length isn't a
            // multiple of 8), so no key ends in a byte-by-byte loop.
            var rest = data;
            while (rest.Length > 8)
            {
                h = Mum(h ^ MemoryMarshal.Read<ulong>(rest), P0);
                rest = rest[8..];
            }

            return Mum(h ^ MemoryMarshal.Read<ulong>(data[^8..]) ^ P1, P0 ^ Seed);
        }

        ulong tail;
        if (data.Length >= 4)
        {
            // 4 to 8 bytes: the first and the last 4, overlapping when fewer than 8.
            tail = ((ulong)MemoryMarshal.Read<uint>(data) << 32) | MemoryMarshal.Read<uint>(data[^4..]);
        }
        else
        {
            tail = 0;
            for (var i = 0; i < data.Length; i++)
            {
                tail |= (ulong)data[i] << (8 * i);
            }
        }

        return Mum(h ^ tail ^ P1, P0 ^ Seed);
    }

    private static ulong Mum(ulong a, ulong b)
    {
        var hi = Math.BigMul(a, b, out var lo);
        return hi ^ lo;
    }
}
