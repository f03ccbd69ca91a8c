using Basalt.Protocol;

namespace Basalt.Engine.Tests;

/// <summary>LCS's table of (alen+1)×(blen+1) counters, where proto-max-bulk-len lets it past what one array holds.</summary>
public sealed class LcsLimitTests
{
    [Fact]
    public void A_table_larger_than_an_array_can_hold_gets_redis_s_allocation_error()
    {
        // 50,001² cells is 2.5 billion: under a 16 GB proto-max-bulk-len's quarter, over Array.MaxLength. The cell
        // count once wrapped in int arithmetic and threw, which left the op's shards held.
        var h = new EngineHarness();
        h.Store.Limits = new ProtocolLimits { MaxBulkLength = 16L * 1024 * 1024 * 1024 };
        var value = new string('a', 50_001);
        h.Run("SET", "a", value);
        h.Run("SET", "b", value);
        Assert.Equal("ERR Insufficient memory, failed allocating transient memory for LCS", h.Run("LCS", "a", "b").Text);

        h.Store.Limits = ProtocolLimits.Default;
        Assert.Equal("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len", h.Run("LCS", "a", "b").Text);
    }
}
