using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;

namespace Basalt.Engine.Tests;

/// <summary>
/// A batch of ops prefetches their keys together (<see cref="ShardOp.TryAddKeysTo"/>): each op adds only its keys on
/// the shard being run, and only when all of them fit, so a big op is left to prefetch its own keys.
/// </summary>
public sealed class BatchPrefetchTests
{
    [Fact]
    public void An_op_adds_its_keys_on_the_shard_and_only_when_they_all_fit()
    {
        // Given an MGET over two shards, with keys on both
        var table = new CommandTable();
        StringCommands.Register(table);
        var slots = new SlotMap(2);
        var spec = table.Find("mget")!;
        var keys = Enumerable.Range(0, 12).Select(i => $"k{i}").ToArray();
        var request = new OpRequest { Args = EngineHarness.ArgsOf(["MGET", .. keys]), Slots = slots, DatabaseCount = 16, Spec = spec };
        var op = spec.CreateOp!(request);
        var onZero = keys.Count(k => slots.ShardOf(System.Text.Encoding.ASCII.GetBytes(k)) == 0);
        Assert.InRange(onZero, 1, keys.Length - 1);

        // When it is added to an empty prefetch for shard 0
        var prefetch = default(LookupPrefetch);
        Assert.True(op.TryAddKeysTo(ref prefetch, 0));

        // Then it took exactly its keys on shard 0
        Assert.Equal(LookupPrefetch.Capacity - onZero, prefetch.Room);

        // And a prefetch with less room than that takes none of them
        var crowded = default(LookupPrefetch);
        for (var i = 0; i < LookupPrefetch.Capacity - onZero + 1; i++)
        {
            crowded.Add("other"u8);
        }

        Assert.False(op.TryAddKeysTo(ref crowded, 0));
        Assert.Equal(onZero - 1, crowded.Room);
    }
}
