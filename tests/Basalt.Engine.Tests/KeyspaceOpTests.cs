namespace Basalt.Engine.Tests;

/// <summary>Whole-keyspace ops run against one store, with the clock under the test's control.</summary>
public sealed class KeyspaceOpTests
{
    [Fact]
    public void Randomkey_keeps_picking_past_expired_keys_until_it_finds_a_live_one()
    {
        // Redis's dbRandomKey loops until a pick is live (each expired pick is deleted); giving up after 100 picks
        // answered nil here while a live key existed.
        var h = new EngineHarness();
        for (var i = 0; i < 5000; i++)
        {
            Assert.Equal("OK", h.Run("SET", "e" + i, "v", "PX", "10").Text);
        }

        Assert.Equal("OK", h.Run("SET", "live", "v").Text);
        h.NowMs += 100;

        for (var round = 0; round < 5; round++)
        {
            Assert.Equal("live", h.Run("RANDOMKEY").Text);
        }
    }

    [Fact]
    public void A_key_lives_through_the_millisecond_its_expiry_names_and_is_gone_after_it()
    {
        // Redis's keyIsExpired is now > when: at now == when GET still finds the key and PTTL answers 0.
        var h = new EngineHarness();
        Assert.Equal("OK", h.Run("SET", "k", "v", "PX", "5").Text);
        Assert.Equal("OK", h.Run("SET", "other", "v", "PX", "5").Text);
        h.NowMs += 5;

        Assert.Equal("v", h.Run("GET", "k").Text);
        Assert.Equal(0, h.Run("PTTL", "k").Integer);
        Assert.Equal(0, h.Run("TTL", "k").Integer);
        Assert.Equal(["k", "other"], h.Run("KEYS", "*").Items!.Select(i => i.Text).Order(StringComparer.Ordinal));
        Assert.Equal(0, h.Store.Dbs[0].ExpireSample(h.NowMs, 20, new Random(1)));
        Assert.Equal("OK", h.Run("SET", "k", "w", "KEEPTTL").Text); // a live key: KEEPTTL keeps its expiry
        Assert.Equal(0, h.Run("PTTL", "k").Integer);

        h.NowMs += 1;
        Assert.Equal(-2, h.Run("PTTL", "k").Integer);
        Assert.True(h.Run("GET", "k").IsNull);
        Assert.Empty(h.Run("KEYS", "*").Items!);
        Assert.Equal(1, h.Store.Dbs[0].ExpireSample(h.NowMs, 20, new Random(1)));
    }

    [Fact]
    public void Active_expiry_passes_over_keys_its_guard_says_are_held()
    {
        var h = new EngineHarness();
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal("OK", h.Run("SET", "k" + i.ToString(System.Globalization.CultureInfo.InvariantCulture), "v", "PX", "5").Text);
        }

        h.NowMs += 10;
        var guard = new HoldOn("k7", "k8");
        h.Store.ActiveExpire(h.NowMs, TimeSpan.FromSeconds(5), guard);
        Assert.Equal(2, h.Store.Dbs[0].VolatileCount);

        // Once the hold is gone they go too.
        h.Store.ActiveExpire(h.NowMs, TimeSpan.FromSeconds(5));
        Assert.Equal(0, h.Store.Dbs[0].VolatileCount);
    }

    private sealed class HoldOn(params string[] keys) : Basalt.Engine.Keyspace.IExpiryGuard
    {
        public bool IsHeld(int db, ReadOnlySpan<byte> key) => keys.Contains(System.Text.Encoding.UTF8.GetString(key));
    }
}
