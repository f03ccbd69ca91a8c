namespace Basalt.Engine;

/// <summary>Redis Cluster key hashing: CRC16-CCITT (XModem) of the key or its {hash tag}, mod 16384.</summary>
public static class HashSlot
{
    public const int SlotCount = 16384;

    private static readonly ushort[] Table = BuildTable();

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
        ushort crc = 0;
        foreach (var b in data)
        {
            crc = (ushort)((crc << 8) ^ Table[((crc >> 8) ^ b) & 0xff]);
        }

        return crc;
    }

    private static ushort[] BuildTable()
    {
        var table = new ushort[256];
        for (var i = 0; i < 256; i++)
        {
            var crc = (ushort)(i << 8);
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (ushort)((crc << 1) ^ 0x1021) : (ushort)(crc << 1);
            }

            table[i] = crc;
        }

        return table;
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
