using System.Globalization;
using System.Text;
using Basalt.Engine.Commands;
using Basalt.Protocol;

namespace Basalt.Engine.Tests;

/// <summary>
/// A connection makes its last finished MGET, MSET, MSETNX, DEL, UNLINK, EXISTS or TOUCH op into the next call of the
/// same command (<see cref="ShardOp.Reuse"/>) instead of allocating one. A reused op must answer and write exactly as a
/// new one: the same random calls run through new ops against one set of shards and through reused ops against a copy,
/// and every reply and every key must match.
/// </summary>
public sealed class OpReuseTests
{
    private const long Now = 1_700_000_000_000;
    private static readonly string[] Commands = ["MGET", "MSET", "MSETNX", "DEL", "UNLINK", "EXISTS", "TOUCH"];

    [Theory]
    [InlineData(1, 1)]
    [InlineData(3, 2)]
    [InlineData(3, 3)]
    [InlineData(4, 4)]
    public void A_reused_op_answers_and_writes_as_a_new_one(int shards, int seed)
    {
        var table = new CommandTable();
        StringCommands.Register(table);
        KeyCommands.Register(table);
        var slots = new SlotMap(shards);
        var fresh = Stores(shards);
        var reused = Stores(shards);
        var spares = new Dictionary<CommandSpec, ShardOp>();
        var rng = new Random(seed);
        var reuses = 0;
        for (var call = 0; call < 3000; call++)
        {
            var args = RandomCall(rng);
            var spec = table.Find(args[0].ToLowerInvariant())!;
            var request = new OpRequest { Args = EngineHarness.ArgsOf(args), Slots = slots, NowMs = Now, DatabaseCount = 16, Spec = spec };

            var expected = Answer(spec.CreateOp!(request), fresh);

            ShardOp op;
            if (spares.Remove(spec, out var spare))
            {
                spare.Reuse(request);
                op = spare;
                reuses++;
            }
            else
            {
                op = spec.CreateOp!(request);
            }

            var actual = Answer(op, reused);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"call {call}: {string.Join(' ', args.Take(8))}… expected {Show(expected)}, got {Show(actual)}");
            Assert.True(op.Reusable);
            op.Retire();
            Assert.Equal(0, op.Args.Count);
            spares[spec] = op;
        }

        Assert.True(reuses > 2900, $"{reuses} reuses");
        for (var k = 0; k < 60; k++)
        {
            var key = Encoding.ASCII.GetBytes(Key(k));
            var shard = slots.ShardOf(key);
            var a = fresh[shard].Dbs[0].Find(key, Now);
            var b = reused[shard].Dbs[0].Find(key, Now);
            Assert.Equal(a is null, b is null);
            if (a is not null)
            {
                Assert.True(a.StringBytes.SequenceEqual(b!.StringBytes), $"key {Key(k)}");
            }
        }
    }

    /// <summary>Runs an op as the server does: each phase on every involved shard while the op goes on, then its reply and release.</summary>
    private static byte[] Answer(ShardOp op, ShardStore[] stores)
    {
        using var reply = new ReplyBuffer();
        if (op.EarlyError is { } error)
        {
            reply.Error(error);
            return reply.WrittenSpan.ToArray();
        }

        for (var phase = 0; ; phase++)
        {
            foreach (var shard in op.Shards)
            {
                op.PrefetchKeys(stores[shard]);
                op.Run(stores[shard], phase);
            }

            if (!op.Continue(phase))
            {
                break;
            }
        }

        op.Reply(reply);
        op.Release();
        return reply.WrittenSpan.ToArray();
    }

    /// <summary>
    /// A call over a 60-key pool, so keys meet on every shard and repeat within a call: mostly short, sometimes past the
    /// tables an op keeps (1,024), sometimes a wrong argument count for MSET, with values of sizes up to past the part
    /// buffers an MGET keeps (1 KB).
    /// </summary>
    private static string[] RandomCall(Random rng)
    {
        var command = Commands[rng.Next(Commands.Length)];
        var count = rng.Next(20) == 0 ? 1100 + rng.Next(100) : 1 + rng.Next(12);
        var args = new List<string> { command };
        var pairs = command is "MSET" or "MSETNX";
        for (var i = 0; i < count; i++)
        {
            args.Add(Key(rng.Next(60)));
            if (pairs)
            {
                args.Add(new string((char)('a' + rng.Next(26)), rng.Next(4) == 0 ? 1500 : 1 + rng.Next(8)));
            }
        }

        if (pairs && rng.Next(15) == 0)
        {
            args.RemoveAt(args.Count - 1);
        }

        return [.. args];
    }

    private static string Key(int k) => "k" + k.ToString(CultureInfo.InvariantCulture);

    private static ShardStore[] Stores(int shards)
    {
        var stores = new ShardStore[shards];
        for (var i = 0; i < shards; i++)
        {
            stores[i] = new ShardStore(i, 16);
        }

        return stores;
    }

    private static string Show(byte[] reply) => Encoding.ASCII.GetString(reply, 0, Math.Min(reply.Length, 120));
}
