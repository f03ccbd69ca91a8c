using System.Text;

namespace Basalt.Engine.Tests;

/// <summary>
/// <see cref="KeyHash.Of"/> reads keys in words, the last one overlapping the words before: every byte of a key of any
/// length must still count, or keys that differ in one byte would share a hash and a bucket chain.
/// </summary>
public sealed class KeyHashTests
{
    [Fact]
    public void Keys_differing_in_any_one_byte_or_in_length_hash_apart()
    {
        // Given, for every length up to 40, a base key and every variant with one byte changed, plus every prefix
        var hashes = new Dictionary<ulong, string>();
        var rng = new Random(7);
        for (var length = 0; length <= 40; length++)
        {
            var key = new byte[length];
            rng.NextBytes(key);
            Add(hashes, key);
            for (var at = 0; at < length; at++)
            {
                for (var bit = 0; bit < 8; bit++)
                {
                    var variant = (byte[])key.Clone();
                    variant[at] ^= (byte)(1 << bit);
                    Add(hashes, variant);
                }
            }

            // Zero bytes appended must not hash like the shorter key.
            Add(hashes, [.. key, 0]);
        }

        // Then no two of them share a 64-bit hash (Add asserts), and the same bytes hash alike
        Assert.True(hashes.Count > 6000);
        Assert.Equal(KeyHash.Of("key:000000123456"u8), KeyHash.Of(Encoding.ASCII.GetBytes("key:000000123456")));
    }

    private static void Add(Dictionary<ulong, string> hashes, byte[] key)
    {
        var text = Convert.ToHexString(key) + "/" + key.Length;
        if (hashes.TryGetValue(KeyHash.Of(key), out var other))
        {
            Assert.True(other == text, $"{text} and {other} share a hash");
            return;
        }

        hashes.Add(KeyHash.Of(key), text);
    }
}
