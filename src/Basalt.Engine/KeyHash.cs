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
        while (data.Length >= 8)
        {
            h = Mum(h ^ MemoryMarshal.Read<ulong>(data), P0);
            data = data[8..];
        }

        ulong tail = 0;
        for (var i = 0; i < data.Length; i++)
        {
            tail |= (ulong)data[i] << (8 * i);
        }

        return Mum(h ^ tail ^ P1, P0 ^ Seed);
    }

    private static ulong Mum(ulong a, ulong b)
    {
        var hi = Math.BigMul(a, b, out var lo);
        return hi ^ lo;
    }
}
