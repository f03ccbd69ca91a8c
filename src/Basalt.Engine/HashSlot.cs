using System.Runtime.CompilerServices;

namespace Basalt.Engine;

/// <summary>Redis Cluster key hashing: CRC16-CCITT (XModem) of the key or its {hash tag}, mod 16384.</summary>
public static class HashSlot
{
    public const int SlotCount = 16384;

    // Slicing by 8: Tables[k * 256 + i] is the CRC of byte i followed by k zero bytes. The CRC is linear, so 8 bytes at a
    // time are 8 lookups XORed together instead of 8 dependent steps: the key's slot is computed up to three times for
    // each command (the pipeline's prefetch, routing, the target shard), and byte by byte it was 11% of a loop's CPU on
    // pipelined DELs of 14-byte keys.
    private static readonly ushort[] Tables = BuildTables();

    public static int Of(ReadOnlySpan<byte> key)
    {
        // Only the first '{' counts, and only when a '}' follows with something between them.
        var open = key.IndexOf((byte)'{');
        if (open >= 0)
        {
            var close = key[(open + 1)..].IndexOf((byte)'}');
            if (close > 0)
            {
                key = key.Slice(open + 1, close);
            }
        }

        return Crc16(key) & (SlotCount - 1);
    }

    public static ushort Crc16(ReadOnlySpan<byte> data)
    {
        ref var t = ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(Tables);
        ref var d = ref System.Runtime.InteropServices.MemoryMarshal.GetReference(data);
        uint crc = 0;
        var i = 0;
        for (; i + 8 <= data.Length; i += 8)
        {
            crc = (uint)(Lookup(ref t, 7, (crc >> 8) ^ Unsafe.Add(ref d, i))
                ^ Lookup(ref t, 6, (crc & 0xff) ^ Unsafe.Add(ref d, i + 1))
                ^ Lookup(ref t, 5, Unsafe.Add(ref d, i + 2))
                ^ Lookup(ref t, 4, Unsafe.Add(ref d, i + 3))
                ^ Lookup(ref t, 3, Unsafe.Add(ref d, i + 4))
                ^ Lookup(ref t, 2, Unsafe.Add(ref d, i + 5))
                ^ Lookup(ref t, 1, Unsafe.Add(ref d, i + 6))
                ^ Lookup(ref t, 0, Unsafe.Add(ref d, i + 7)));
        }

        // The last 0 to 7 bytes: 4, then 2, then 1 at a time (three dependent steps at most, not seven); a 14-byte key
        // ends in 6 such bytes.
        if (i + 4 <= data.Length)
        {
            crc = (uint)(Lookup(ref t, 3, (crc >> 8) ^ Unsafe.Add(ref d, i))
                ^ Lookup(ref t, 2, (crc & 0xff) ^ Unsafe.Add(ref d, i + 1))
                ^ Lookup(ref t, 1, Unsafe.Add(ref d, i + 2))
                ^ Lookup(ref t, 0, Unsafe.Add(ref d, i + 3)));
            i += 4;
        }

        if (i + 2 <= data.Length)
        {
            crc = (uint)(Lookup(ref t, 1, (crc >> 8) ^ Unsafe.Add(ref d, i))
                ^ Lookup(ref t, 0, (crc & 0xff) ^ Unsafe.Add(ref d, i + 1)));
            i += 2;
        }

        if (i < data.Length)
        {
            crc = ((crc << 8) & 0xffff) ^ Lookup(ref t, 0, (crc >> 8) ^ Unsafe.Add(ref d, i));
        }

        return (ushort)crc;
    }

    // Every index is below 256 (a byte, or a byte XORed with the register's high or low byte), so no bounds check.
    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    private static uint Lookup(ref ushort tables, int zeros, uint index) => Unsafe.Add(ref tables, (zeros * 256) + (int)(index & 0xff));

    private static ushort[] BuildTables()
    {
        var tables = new ushort[8 * 256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (ushort)(i << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }

            tables[i] = crc;
        }

        // One more zero byte after the byte: a step with nothing fed in.
        for (var k = 1; k < 8; k++)
        {
            for (var i = 0; i < 256; i++)
            {
                var prev = tables[((k - 1) * 256) + i];
                tables[(k * 256) + i] = (ushort)((prev << 8) ^ tables[prev >> 8]);
            }
        }

        return tables;
    }
}

/// <summary>The slot → shard table. One small array, so cluster mode can later move slots.</summary>
public sealed class SlotMap
{
    private readonly ushort[] _slotToShard = new ushort[HashSlot.SlotCount];
    private readonly int[][] _oneShard;

    public SlotMap(int shards)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(shards, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(shards, 1024);
        ShardCount = shards;
        _oneShard = new int[shards][];
        for (var s = 0; s < shards; s++)
        {
            _oneShard[s] = [s];
        }

        // Contiguous ranges, like a cluster's default slot split.
        for (var s = 0; s < HashSlot.SlotCount; s++)
        {
            _slotToShard[s] = (ushort)((long)s * shards / HashSlot.SlotCount);
        }
    }

    public int ShardCount { get; }

    /// <summary>A one-element array holding <paramref name="shard"/>, made once: the involved shards of an op whose keys are all there. Never to be written.</summary>
    public int[] OneShard(int shard) => _oneShard[shard];

    public int ShardOfSlot(int slot) => _slotToShard[slot];

    public int ShardOf(ReadOnlySpan<byte> key) => ShardCount == 1 ? 0 : _slotToShard[HashSlot.Of(key)];
}
