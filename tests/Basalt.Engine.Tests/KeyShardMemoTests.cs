using System.Globalization;
using System.Text;
using Basalt.Engine.Commands;

namespace Basalt.Engine.Tests;

/// <summary>
/// A multi-key op takes its keys' shards from the router's one-shard check (<see cref="KeyShardMemo"/>) instead of
/// computing their slots again, but only for the very key range the memo holds: a memo of another range is ignored.
/// </summary>
public sealed class KeyShardMemoTests
{
    private static readonly SlotMap Slots = new(4);

    [Theory]
    [InlineData("MGET", 1, 1)]
    [InlineData("MSET", 1, 2)]
    [InlineData("DEL", 1, 1)]
    public void An_op_routed_by_a_memo_of_its_keys_routes_as_one_that_computed_them(string command, int first, int step)
    {
        var spec = Table().Find(command.ToLowerInvariant())!;
        var rng = new Random(7);
        for (var call = 0; call < 200; call++)
        {
            var args = Call(command, rng.Next(1, 12), rng);
            var last = args.Length - 1;
            var memo = new KeyShardMemo();
            Assert.True(memo.Begin(first, step, last));
            for (var i = first; i <= last; i += step)
            {
                memo[i] = Slots.ShardOf(Encoding.UTF8.GetBytes(args[i]));
            }

            var computed = spec.CreateOp!(Request(spec, args, null));
            var remembered = spec.CreateOp!(Request(spec, args, memo));
            Assert.Equal(computed.Shards, remembered.Shards);
            for (var shard = 0; shard < Slots.ShardCount; shard++)
            {
                Assert.Equal(KeysOn(computed, shard), KeysOn(remembered, shard));
            }
        }
    }

    [Fact]
    public void A_memo_is_taken_for_its_own_key_range_only()
    {
        // Every key really is on one shard; the memo says otherwise. Taken, it moves the keys; ignored, it changes nothing.
        var spec = Table().Find("mset")!;
        string[] args = ["MSET", "{t}a", "1", "{t}b", "2"];
        var home = Slots.ShardOf("{t}a"u8);
        var other = (home + 1) % Slots.ShardCount;

        var forRange = new KeyShardMemo();
        Assert.True(forRange.Begin(1, 2, 4));
        forRange[1] = other;
        forRange[3] = other;
        Assert.Equal([other], spec.CreateOp!(Request(spec, args, forRange)).Shards);

        var otherRange = new KeyShardMemo();
        Assert.True(otherRange.Begin(1, 1, 4));
        for (var i = 1; i <= 4; i++)
        {
            otherRange[i] = other;
        }

        Assert.Equal([home], spec.CreateOp!(Request(spec, args, otherRange)).Shards);

        var cleared = new KeyShardMemo();
        Assert.True(cleared.Begin(1, 2, 4));
        cleared[1] = other;
        cleared[3] = other;
        cleared.Clear();
        Assert.Equal([home], spec.CreateOp!(Request(spec, args, cleared)).Shards);
    }

    [Fact]
    public void A_command_of_more_arguments_than_a_memo_holds_is_not_memoised() =>
        Assert.False(new KeyShardMemo().Begin(1, 1, KeyShardMemo.MaxArgs));

    private static CommandTable Table()
    {
        var table = new CommandTable();
        StringCommands.Register(table);
        KeyCommands.Register(table);
        return table;
    }

    private static OpRequest Request(CommandSpec spec, string[] args, KeyShardMemo? memo) =>
        new() { Args = EngineHarness.ArgsOf(args), Slots = Slots, NowMs = 1, DatabaseCount = 16, Spec = spec, KeyShards = memo };

    private static string[] Call(string command, int keys, Random rng)
    {
        var args = new List<string> { command };
        for (var k = 0; k < keys; k++)
        {
            args.Add("k" + rng.Next(1000).ToString(CultureInfo.InvariantCulture));
            if (command == "MSET")
            {
                args.Add("v");
            }
        }

        return [.. args];
    }

    private static List<ulong> KeysOn(ShardOp op, int shard)
    {
        var keys = new List<ulong>();
        op.KeysOn(shard, keys);
        return keys;
    }
}
