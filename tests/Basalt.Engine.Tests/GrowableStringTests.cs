using System.Text;
using Basalt.Engine.Keyspace;

namespace Basalt.Engine.Tests;

/// <summary>
/// APPEND and SETRANGE grow a value greedily, as Redis's sds does, so a value built by appends is not copied whole at
/// every APPEND. Counted, not timed: buffer reallocations and bytes allocated on the test thread.
/// </summary>
public sealed class GrowableStringTests
{
    [Fact]
    public void Ten_thousand_appends_of_1_KB_reallocate_the_value_a_few_dozen_times_at_most()
    {
        // The harness's recording sink would keep a copy of the whole value per APPEND: 50 GB.
        var h = new EngineHarness();
        h.Store.Effects = NullEffectSink.Instance;
        var chunk = new string('x', 1024);
        h.Run("SET", "log", "y");
        var capacities = new HashSet<int>();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 10_000; i++)
        {
            Assert.Equal(1 + ((i + 1) * 1024L), h.Run("APPEND", "log", chunk).Integer);
            capacities.Add(((GrowableString)Entry(h, "log").Value).Capacity);
        }

        var allocated = GC.GetAllocatedBytesForCurrentThread() - before;

        // Doubling to 1 MB, then 1 MB more each time: about 20 buffers for 10 MB. An exact-length copy per APPEND made
        // 10,000 of them and allocated some 50 GB.
        Assert.InRange(capacities.Count, 1, 30);
        Assert.True(allocated < 256L << 20, $"allocated {allocated} bytes");
        var value = Entry(h, "log").StringBytes;
        Assert.Equal(1 + (10_000 * 1024), value.Length);
        Assert.Equal((byte)'y', value[0]);
        Assert.True(value[1..].IndexOfAnyExcept((byte)'x') < 0);
        Assert.Equal(1 + (10_000 * 1024L), h.Run("STRLEN", "log").Integer);
    }

    [Fact]
    public void Room_doubles_up_to_1_MB_then_grows_by_1_MB_within_an_array_s_limit()
    {
        Assert.Equal(20, GrowableString.RoomFor(10));
        Assert.Equal((2 << 20) - 2, GrowableString.RoomFor((1 << 20) - 1));
        Assert.Equal(2 << 20, GrowableString.RoomFor(1 << 20));
        Assert.Equal((10 << 20) + (1 << 20), GrowableString.RoomFor(10 << 20));
        Assert.Equal(Array.MaxLength, GrowableString.RoomFor(Array.MaxLength - 5));
        Assert.Equal(Array.MaxLength, GrowableString.RoomFor(Array.MaxLength));
    }

    [Fact]
    public void A_write_past_the_end_zero_fills_the_gap_even_in_room_the_buffer_already_had()
    {
        // The buffer is allocated uninitialised: the bytes between the old end and the write must be cleared.
        var g = new GrowableString("ab"u8, 100);
        Assert.True(g.Capacity >= 100);
        g.Write(50, "z"u8);
        Assert.Equal(51, g.Length);
        Assert.Equal("ab"u8.ToArray(), g.Span[..2].ToArray());
        Assert.True(g.Span[2..50].IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal((byte)'z', g.Span[50]);

        // Past the capacity too.
        g.Write(g.Capacity + 10, "q"u8);
        Assert.True(g.Span[51..^1].IndexOfAnyExcept((byte)0) < 0);
        Assert.Equal((byte)'q', g.Span[^1]);
    }

    [Fact]
    public void Setrange_inside_an_exact_value_writes_in_place_and_past_its_end_makes_it_growable()
    {
        var h = new EngineHarness();
        h.Run("SET", "k", "hello");
        var exact = Entry(h, "k").Value;
        Assert.Equal(5, h.Run("SETRANGE", "k", "1", "EL").Integer);
        Assert.Same(exact, Entry(h, "k").Value);
        Assert.Equal("hELlo", h.Run("GET", "k").Text);

        Assert.Equal(12, h.Run("SETRANGE", "k", "10", "!!").Integer);
        Assert.IsType<GrowableString>(Entry(h, "k").Value);
        Assert.Equal("hELlo\0\0\0\0\0!!", h.Run("GET", "k").Text);

        // SET replaces a growable value with an exact one, and the effect records the value's bytes only.
        h.Run("APPEND", "k", "?");
        Assert.Equal("SetString", h.Sink.Effects[^1].Kind.ToString());
        Assert.Equal("hELlo\0\0\0\0\0!!?", h.Sink.Effects[^1].Value);
        h.Run("SET", "k", "v");
        Assert.IsType<byte[]>(Entry(h, "k").Value);
    }

    private static Entry Entry(EngineHarness h, string key) => h.Store.Dbs[0].Find(Encoding.UTF8.GetBytes(key), h.NowMs)!;
}
