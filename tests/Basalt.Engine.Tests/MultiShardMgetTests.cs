using System.Text;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;

namespace Basalt.Engine.Tests;

/// <summary>
/// MGET over several shards: each shard writes its values in reply form into a buffer of its own and the coordinator
/// copies them out in key order. The reply is byte for byte the one a single shard gives for the same keys.
/// </summary>
public sealed class MultiShardMgetTests
{
    private const long Now = 1_700_000_000_000;

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Replies_across_shards_as_one_shard_does(int protocol)
    {
        var values = new Dictionary<string, byte[]>
        {
            ["a"] = "1"u8.ToArray(),
            ["b"] = [],
            ["c"] = [0, 255, 13, 10, 36],
            ["{tag}x"] = Encoding.ASCII.GetBytes(new string('v', 5000)),
            ["{tag}y"] = "y"u8.ToArray(),
            ["big"] = new byte[3 * 1024 * 1024],
        };
        string[] keys = ["a", "missing", "b", "c", "a", "{tag}x", "big", "other-missing", "{tag}y", "c"];

        var one = Mget(1, values, keys, protocol, out _);
        var mappedBefore = BufferPool.MappedBytes;
        var three = Mget(3, values, keys, protocol, out var shardsUsed);

        Assert.Equal(3, shardsUsed);
        Assert.Equal(one, three);
        Assert.Equal(mappedBefore, BufferPool.MappedBytes);
    }

    /// <summary>Runs MGET as the server does: the op's part on every shard it routes to, then the reply, then the release.</summary>
    private static byte[] Mget(int shardCount, Dictionary<string, byte[]> values, string[] keys, int protocol, out int shardsUsed)
    {
        var slots = new SlotMap(shardCount);
        var stores = new ShardStore[shardCount];
        for (var i = 0; i < shardCount; i++)
        {
            stores[i] = new ShardStore(i, 16);
        }

        foreach (var (key, value) in values)
        {
            var k = Encoding.UTF8.GetBytes(key);
            stores[slots.ShardOf(k)].Dbs[0].SetString(k, value, -1, keepTtl: false, Now);
        }

        var table = new CommandTable();
        StringCommands.Register(table);
        var spec = table.Find("mget")!;
        var op = spec.CreateOp!(new OpRequest { Args = EngineHarness.ArgsOf(["MGET", .. keys]), Slots = slots, NowMs = Now, DatabaseCount = 16, Spec = spec });
        shardsUsed = op.Shards.Length;
        foreach (var shard in op.Shards)
        {
            op.Run(stores[shard], 0);
        }

        using var reply = new ReplyBuffer { Protocol = protocol };
        op.Reply(reply);
        op.Release();
        return reply.WrittenSpan.ToArray();
    }
}
