namespace Basalt.Engine.Tests;

/// <summary>HashSlot's CRC16 (slicing by 8) against the definition, bit by bit, and Redis's check value.</summary>
public sealed class HashSlotTests
{
    [Fact]
    public void Crc16_matches_the_bitwise_definition_for_every_length_and_content()
    {
        var rng = new Random(16384);
        for (var n = 0; n < 20_000; n++)
        {
            var data = new byte[rng.Next(0, n < 10_000 ? 40 : 600)];
            rng.NextBytes(data);
            Assert.Equal(Bitwise(data), HashSlot.Crc16(data));
        }

        // Redis's own check value (cluster spec: CRC16 of "123456789" is 0x31C3).
        Assert.Equal(0x31C3, HashSlot.Crc16("123456789"u8));
        Assert.Equal(0, HashSlot.Crc16([]));
    }

    /// <summary>CRC16-CCITT (XModem): polynomial 0x1021, initial value 0, no reflection, one bit at a time.</summary>
    private static ushort Bitwise(ReadOnlySpan<byte> data)
    {
        var crc = 0;
        foreach (var b in data)
        {
            crc ^= b << 8;
            for (var bit = 0; bit < 8; bit++)
            {
                crc = (crc & 0x8000) != 0 ? (crc << 1) ^ 0x1021 : crc << 1;
            }

            crc &= 0xffff;
        }

        return (ushort)crc;
    }
}
