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
}
