using System.Globalization;
using System.Text;
using Basalt.Engine;
using Basalt.Protocol;
using Basalt.Server.Tests.Operations;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// DEL, UNLINK, EXISTS, TOUCH, MGET, MSET and MSETNX whose keys are all on one shard run there as keyed commands do, in
/// their pipeline's group for that shard (<c>CommandSpec.OnOneShard</c>). As ops they were barriers: each one on another
/// shard cost a round trip of messages and stopped the pipeline's batching, and pipelined DELs ran at a third of Redis's
/// rate.
/// </summary>
public sealed class OneShardMultiKeyTests
{
    [Fact]
    public async Task A_pipeline_of_multi_key_commands_each_on_one_shard_answers_in_order_in_a_few_messages()
    {
        await using var s = await InProcessServer.StartAsync();
        var slots = new SlotMap(2);
        string[] tags = ["{a}", ShardTags.FirstTagOn(slots, 1 - slots.ShardOf("a"u8))];
        using var c = s.Connect();

        const int Rounds = 300;
        var pipeline = Pipeline(tags, Rounds);
        var before = await ShardTags.MessagesAsync(s);
        c.SendRaw(pipeline);
        for (var i = 0; i < Rounds; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            Assert.Equal("OK", c.Read().Text);
            Assert.Equal(0, c.Read().Integer);
            var values = c.Read();
            Assert.Equal(3, values.Items!.Count);
            Assert.Equal($"v{n}", values.Items[0].Text);
            Assert.Equal($"w{n}", values.Items[1].Text);
            Assert.True(values.Items[2].IsNull);
            Assert.Equal(2, c.Read().Integer);
            Assert.Equal(1, c.Read().Integer);
            Assert.Equal(1, c.Read().Integer);
            Assert.Equal("ERR wrong number of arguments for 'mset' command", c.Read().Text);
            Assert.Equal(1, c.Read().Integer);
            Assert.Equal(0, c.Read().Integer);
        }

        // 2,700 commands, half of them for the shard that isn't the connection's: a batch costs its groups a message
        // there and one back, 20 in all on this machine. As ops, each of the 1,350 cost at least two (2,402 here).
        await ShardTags.AssertFewerMessagesSinceAsync(s, before, 200);
        Assert.Equal(0, c.Call("DBSIZE").Integer);
    }

    [Fact]
    public async Task Msetnx_on_one_shard_sets_nothing_when_one_key_exists_and_every_key_when_none_does()
    {
        await using var s = await InProcessServer.StartAsync();
        using var c = s.Connect();
        Assert.Equal("OK", c.Call("SET", "{m}b", "old").Text);
        Assert.Equal(0, c.Call("MSETNX", "{m}a", "1", "{m}b", "2", "{m}c", "3").Integer);
        Assert.True(c.Call("GET", "{m}a").IsNull);
        Assert.Equal("old", c.Call("GET", "{m}b").Text);
        Assert.Equal(1, c.Call("MSETNX", "{m}a", "1", "{m}c", "3", "{m}a", "4").Integer);
        Assert.Equal("4", c.Call("GET", "{m}a").Text);
        Assert.Equal("3", c.Call("GET", "{m}c").Text);

        // As in Redis, the lookups stop at the first key that exists: a key named after it keeps its idle time.
        Assert.Equal("OK", c.Call("SET", "{m}late", "x").Text);
        await Task.Delay(2200);
        Assert.Equal(0, c.Call("MSETNX", "{m}b", "9", "{m}late", "9").Integer);
        Assert.Equal(0, c.Call("OBJECT", "IDLETIME", "{m}b").Integer);
        Assert.True(c.Call("OBJECT", "IDLETIME", "{m}late").Integer >= 1, "the key after the first that exists was looked up");
    }

    /// <summary>Nine commands a round, each round's keys on one shard, the rounds alternating between the two shards.</summary>
    private static byte[] Pipeline(string[] tags, int rounds)
    {
        var pipeline = new MemoryStream();
        for (var i = 0; i < rounds; i++)
        {
            var t = tags[i % 2];
            var n = i.ToString(CultureInfo.InvariantCulture);
            pipeline.Write(RespConnection.Encode("MSET", $"{t}x:{n}", $"v{n}", $"{t}y:{n}", $"w{n}"));
            pipeline.Write(RespConnection.Encode("MSETNX", $"{t}new:{n}", "z", $"{t}x:{n}", "z"));
            pipeline.Write(RespConnection.Encode("MGET", $"{t}x:{n}", $"{t}y:{n}", $"{t}new:{n}"));
            pipeline.Write(RespConnection.Encode("EXISTS", $"{t}x:{n}", $"{t}x:{n}", $"{t}new:{n}"));
            pipeline.Write(RespConnection.Encode("TOUCH", $"{t}y:{n}", $"{t}new:{n}"));
            pipeline.Write(RespConnection.Encode("DEL", $"{t}x:{n}", $"{t}new:{n}"));
            pipeline.Write(RespConnection.Encode("MSET", $"{t}odd:{n}", "1", $"{t}odd2:{n}"));
            pipeline.Write(RespConnection.Encode("UNLINK", $"{t}y:{n}"));
            pipeline.Write(RespConnection.Encode("EXISTS", $"{t}x:{n}", $"{t}y:{n}"));
        }

        return pipeline.ToArray();
    }
}
