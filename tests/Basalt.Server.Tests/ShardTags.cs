using System.Globalization;
using System.Text;
using Basalt.Engine;
using Basalt.Server.Tests.Operations;

namespace Basalt.Server.Tests;

/// <summary>Hash tags that put keys on a chosen shard, and the count of cross-shard messages a server has passed.</summary>
internal static class ShardTags
{
    /// <summary>The first tag of the form <c>{tN}</c> whose keys <paramref name="slots"/> puts on <paramref name="shard"/>.</summary>
    public static string FirstTagOn(SlotMap slots, int shard)
    {
        for (var i = 0; ; i++)
        {
            var tag = "t" + i.ToString(CultureInfo.InvariantCulture);
            if (slots.ShardOf(Encoding.ASCII.GetBytes(tag)) == shard)
            {
                return "{" + tag + "}";
            }
        }
    }

    /// <summary>Asserts that fewer than <paramref name="bound"/> cross-shard messages passed since <paramref name="before"/> (<see cref="MessagesAsync"/>).</summary>
    public static async Task AssertFewerMessagesSinceAsync(InProcessServer s, double before, int bound)
    {
        var messages = await MessagesAsync(s) - before;
        Assert.True(messages < bound, $"{messages} cross-shard messages");
    }

    /// <summary>Cross-shard messages every loop has received so far, from /metrics.</summary>
    public static async Task<double> MessagesAsync(InProcessServer s)
    {
        var family = (await s.ScrapeAsync())["basalt_shard_messages_received_total"];
        return family.Samples.Sum(x => x.Value);
    }
}
