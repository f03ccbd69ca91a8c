using System.Diagnostics;
using System.Globalization;
using Basalt.Engine;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// Dropped values stop counting in INFO used_memory soon after, as in Redis, though the server then allocates nothing
/// that would make the runtime collect (MemoryReclaimer asks for the collection). Each case drops about 200 MB and waits
/// for used_memory to come back near where it started; before, it stayed up for good.
/// </summary>
[Collection(BigReplyCollection.Name)]
public sealed class MemoryReclaimTests
{
    private static readonly SlotMap Slots = new(2);
    private static readonly string Value = new('v', 20 << 20);

    [Theory]
    [InlineData("DEL")]
    [InlineData("UNLINK")]
    [InlineData("FLUSHALL")]
    [InlineData("FLUSHDB")]
    [InlineData("overwrite")]
    [InlineData("expire")]
    [InlineData("GETDEL")]
    public void Used_memory_falls_back_after_values_are_dropped(string how)
    {
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var c = server.Connect();
        var baseline = UsedMemory(c);
        var keys = Enumerable.Range(0, 10).Select(i => "big:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        foreach (var k in keys)
        {
            Assert.Equal("OK", c.Call("SET", k, Value).Text);
        }

        Assert.True(UsedMemory(c) > baseline + (150 << 20), "the values are counted while they are stored");
        switch (how)
        {
            case "FLUSHALL" or "FLUSHDB":
                Assert.Equal("OK", c.Call(how).Text);
                break;
            case "overwrite":
                foreach (var k in keys)
                {
                    Assert.Equal("OK", c.Call("SET", k, "small").Text);
                }

                break;
            case "expire":
                foreach (var k in keys)
                {
                    Assert.Equal(1, c.Call("PEXPIRE", k, "1").Integer);
                }

                Thread.Sleep(50);
                Assert.Equal(0, c.Call(keys.Prepend("EXISTS").ToArray()).Integer);
                break;
            case "GETDEL":
                foreach (var k in keys)
                {
                    Assert.Equal(Value.Length, c.Call("GETDEL", k).Text!.Length);
                }

                break;
            default:
                Assert.Equal(keys.Length, c.Call(keys.Prepend(how).ToArray()).Integer);
                break;
        }

        using var probe = server.Connect();
        AssertFallsTo(probe, baseline + (40 << 20));
    }

    [Fact]
    public void A_big_input_buffer_is_let_go_once_the_commands_that_used_it_are_answered()
    {
        // 100 MB SETs, and DELs, for the other loop's shard. The command group that carried a SET pointed at the
        // connection's input buffer until its next batch, and the op coordinator a connection keeps for its next op
        // pointed at the DEL's arguments, so trimming the input after 2 s idle freed nothing.
        FallsBackAfter(2, 40, risesMb: 100, conns =>
        {
            // Client id n is served by loop (n - 1) mod 2 (BasaltServer.Admit): each connection's key is on the other one.
            var own = conns.Select(c => (int)((c.Call("CLIENT", "ID").Integer - 1) % 2)).ToArray();
            var keys = own.Select(s => KeyOn(1 - s)).ToArray();
            Assert.NotEqual(keys[0], keys[1]);
            for (var i = 0; i < conns.Length; i++)
            {
                Assert.Equal("OK", conns[i].Call("SET", keys[i], new string('x', 100 << 20)).Text);
            }

            // Each DEL names a key on each shard, so it is an op with a coordinator.
            for (var i = 0; i < conns.Length; i++)
            {
                Assert.Equal(1, conns[i].Call("DEL", keys[i], KeyOn(own[i], "absent:")).Integer);
            }
        });
    }

    [Fact]
    public void A_huge_op_across_shards_leaves_its_connection_holding_none_of_its_tables()
    {
        // A connection keeps its last op and its last two coordinators for its next ones, so that MGET and MSET across
        // shards allocate nothing. A review found them keeping a huge op's per-key shard table (2 B a key) and its
        // steps' key lists (8 B a key) until the connection closed: 3 MB a connection after one 300,000-key MGET.
        FallsBackAfter(24, 30, risesMb: 0, conns =>
        {
            var huge = Enumerable.Range(0, 300_000).Select(i => "t:" + i.ToString(CultureInfo.InvariantCulture)).Prepend("MGET").ToArray();
            var small = new[] { "MGET", KeyOn(0), KeyOn(1) };
            foreach (var c in conns)
            {
                Assert.Equal(300_000, c.Call(huge).Items!.Count);
                Assert.Equal(2, c.Call(small).Items!.Count);
            }
        });
    }

    [Fact]
    public void A_client_pipelining_batches_without_pause_still_lets_its_big_input_buffer_go()
    {
        // A connection keeps spare ops for its next batch of multi-key commands. Keeping one used to count as using the
        // big buffers, so a client that sent one 100 MB request, then pipelined batches with no 2 s pause, kept its
        // 100 MB input buffer for as long as it went on.
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var c = server.Connect();
        using var probe = server.Connect();
        var baseline = UsedMemory(probe);
        var key = KeyOn(0);
        Assert.Equal("OK", c.Call("SET", key, new string('x', 100 << 20)).Text);
        Assert.Equal(1, c.Call("DEL", key).Integer);

        // The input buffer that held the SET is kept for 2 s after its last use: it is in used_memory now.
        var peak = UsedMemory(probe);
        Assert.True(peak > baseline + (90 << 20), $"used_memory {peak >> 20} MB after the big SET, from {baseline >> 20} MB");

        // Four MGETs over both shards in one write: they run as one batch, and three of their ops are kept as spares.
        var mget = RespConnection.Encode("MGET", KeyOn(0), KeyOn(1));
        var batch = Enumerable.Repeat(mget, 4).SelectMany(b => b).ToArray();
        var stop = false;
        var batches = 0;
        Exception? failed = null;
        var busy = new Thread(() =>
        {
            try
            {
                while (!Volatile.Read(ref stop))
                {
                    c.SendRaw(batch);
                    for (var i = 0; i < 4; i++)
                    {
                        Assert.Equal(2, c.Read().Items!.Count);
                    }

                    batches++;
                }
            }
            catch (Exception ex)
            {
                failed = ex;
            }
        });
        busy.Start();
        try
        {
            AssertFallsTo(probe, baseline + (40 << 20));
        }
        finally
        {
            Volatile.Write(ref stop, true);
            busy.Join();
        }

        Assert.Null(failed);
        Assert.True(batches > 100, $"the client kept sending batches while used_memory fell ({batches} batches)");
    }

    /// <summary>
    /// Runs <paramref name="body"/> on a 2-shard server with <paramref name="clients"/> connections, kept open, then asserts
    /// that used_memory rose by over <paramref name="risesMb"/> MB (the big buffers are kept for 2 s after their last use,
    /// so the memory the test means to see given back is still counted) and then falls back to within
    /// <paramref name="slackMb"/> MB of where it was before. It is read by a connection of its own: INFO is an op, and a
    /// connection with an op out keeps its input buffer. The huge op's case asks for no rise: its 24 inputs were used one
    /// after another over more than 2 s, and what it checks is that nothing of them stays.
    /// </summary>
    private static void FallsBackAfter(int clients, int slackMb, int risesMb, Action<RespConnection[]> body)
    {
        using var server = ServerProcess.StartBasalt("--shards", "2");
        var conns = Enumerable.Range(0, clients).Select(_ => server.Connect()).ToArray();
        try
        {
            var baseline = UsedMemory(conns[0]);
            body(conns);
            using var probe = server.Connect();
            var peak = UsedMemory(probe);
            Assert.True(peak > baseline + ((long)risesMb << 20), $"used_memory {peak >> 20} MB after the commands, from {baseline >> 20} MB: expected a rise of over {risesMb} MB");
            AssertFallsTo(probe, baseline + ((long)slackMb << 20));
        }
        finally
        {
            Array.ForEach(conns, c => c.Dispose());
        }
    }

    private static void AssertFallsTo(RespConnection c, long bound)
    {
        // The input buffers are given back 2 s after their last big use, then collected 1 s after: 10 s is ample.
        var watch = Stopwatch.StartNew();
        long now;
        while ((now = UsedMemory(c)) > bound && watch.Elapsed < TimeSpan.FromSeconds(10))
        {
            Thread.Sleep(100);
        }

        Assert.True(now <= bound, $"used_memory {now >> 20} MB after {watch.Elapsed}, expected at most {bound >> 20} MB");
    }

    private static long UsedMemory(RespConnection c)
    {
        var line = c.Call("INFO", "memory").Text!.Split("\r\n").Single(l => l.StartsWith("used_memory:", StringComparison.Ordinal));
        return long.Parse(line["used_memory:".Length..], CultureInfo.InvariantCulture);
    }

    private static string KeyOn(int shard, string prefix = "in:")
    {
        for (var i = 0; ; i++)
        {
            var key = prefix + i.ToString(CultureInfo.InvariantCulture);
            if (Slots.ShardOf(System.Text.Encoding.UTF8.GetBytes(key)) == shard)
            {
                return key;
            }
        }
    }
}
