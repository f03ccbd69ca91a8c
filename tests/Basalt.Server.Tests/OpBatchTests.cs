using System.Globalization;
using Basalt.Engine;
using Basalt.Server.Tests.Operations;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// Multi-key commands that come in a row in one pipeline (MGET, MSET, DEL, UNLINK, EXISTS, TOUCH) run as one batch under
/// one coordinator (<c>OpRun.StartBatch</c>): each shard is held for the keys of all of them and runs their parts in
/// request order. One at a time, each op over two shards cost a round trip of messages, and pipelined MGETs of random
/// keys ran at a fifth of Redis's rate.
/// </summary>
public sealed class OpBatchTests
{
    [Fact]
    public async Task A_pipeline_of_ops_over_both_shards_answers_in_order_in_a_few_messages()
    {
        var (server, a, b) = await StartWithTagsAsync();
        await using var s = server;
        using var c = s.Connect();

        const int Rounds = 200;
        var pipeline = new List<byte[]>();
        for (var i = 0; i < Rounds; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            pipeline.Add(RespConnection.Encode("MSET", $"{a}x:{n}", $"v{n}", $"{b}x:{n}", $"w{n}"));
            pipeline.Add(RespConnection.Encode("MGET", $"{a}x:{n}", $"{b}x:{n}", $"{a}none"));

            // Its keys on one shard: it joins the batch as an op rather than wait for it as a keyed command.
            pipeline.Add(RespConnection.Encode("MGET", $"{b}x:{n}", $"{b}none"));
            pipeline.Add(RespConnection.Encode("EXISTS", $"{a}x:{n}", $"{b}x:{n}", $"{b}x:{n}"));
            pipeline.Add(RespConnection.Encode("TOUCH", $"{a}x:{n}", $"{b}none"));
            pipeline.Add(RespConnection.Encode("DEL", $"{a}x:{n}", $"{b}x:{n}", $"{b}none"));
            pipeline.Add(RespConnection.Encode("EXISTS", $"{a}x:{n}", $"{b}x:{n}"));
            pipeline.Add(RespConnection.Encode("MSET", $"{a}keep:{n}", "1", $"{b}keep:{n}", "2"));
            pipeline.Add(RespConnection.Encode("UNLINK", $"{a}keep:{n}", $"{b}keep:{n}"));
        }

        var before = await ShardTags.MessagesAsync(s);
        c.SendRaw(pipeline.SelectMany(p => p).ToArray());
        for (var i = 0; i < Rounds; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            Assert.Equal("OK", c.Read().Text);
            var values = c.Read().Items!;
            Assert.Equal([$"v{n}", $"w{n}", null], values.Select(v => v.IsNull ? null : v.Text));
            values = c.Read().Items!;
            Assert.Equal([$"w{n}", null], values.Select(v => v.IsNull ? null : v.Text));
            Assert.Equal(3, c.Read().Integer);
            Assert.Equal(1, c.Read().Integer);
            Assert.Equal(2, c.Read().Integer);
            Assert.Equal(0, c.Read().Integer);
            Assert.Equal("OK", c.Read().Text);
            Assert.Equal(2, c.Read().Integer);
        }

        // 1,800 commands, 1,600 of them ops over both shards: one at a time each cost a message to the other shard and
        // one back (3,602 here). In batches of up to 16 they cost a few per batch (272 here).
        await ShardTags.AssertFewerMessagesSinceAsync(s, before, 800);
        Assert.Equal(0, c.Call("DBSIZE").Integer);
    }

    [Fact]
    public async Task What_ends_a_batch_runs_after_it_and_in_its_place()
    {
        var (server, a, b) = await StartWithTagsAsync();
        await using var s = server;
        using var c = s.Connect();

        // A batch is broken by MSETNX (two phases), an error to answer, SELECT and a whole-keyspace op; each runs after
        // the ops before it and before those after it. A keyed command (INCR) joins the batch in its place.
        c.SendRaw(Concat(
            RespConnection.Encode("MSET", $"{a}k", "1", $"{b}k", "1"),
            RespConnection.Encode("INCR", $"{a}k"),
            RespConnection.Encode("MGET", $"{a}k", $"{b}k"),
            RespConnection.Encode("MSETNX", $"{a}k", "9", $"{b}n", "9"),
            RespConnection.Encode("MSET", $"{a}k", "3", $"{b}k"),
            RespConnection.Encode("MGET", $"{a}k", $"{b}k", $"{b}n"),
            RespConnection.Encode("SELECT", "1"),
            RespConnection.Encode("MGET", $"{a}k", $"{b}k"),
            RespConnection.Encode("MSET", $"{a}k", "db1", $"{b}k", "db1"),
            RespConnection.Encode("DBSIZE"),
            RespConnection.Encode("SELECT", "0"),
            RespConnection.Encode("DEL", $"{a}k", $"{b}k"),
            RespConnection.Encode("NOSUCHCOMMAND"),
            RespConnection.Encode("EXISTS", $"{a}k", $"{b}k", $"{b}n"),
            RespConnection.Encode("GET", $"{b}n")));

        Assert.Equal("OK", c.Read().Text);
        Assert.Equal(2, c.Read().Integer);
        Assert.Equal(["2", "1"], c.Read().Items!.Select(v => v.Text));
        Assert.Equal(0, c.Read().Integer);
        Assert.Equal("ERR wrong number of arguments for 'mset' command", c.Read().Text);
        Assert.Equal(["2", "1", null], c.Read().Items!.Select(v => v.IsNull ? null : v.Text));
        Assert.Equal("OK", c.Read().Text);
        Assert.All(c.Read().Items!, v => Assert.True(v.IsNull));
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal(2, c.Read().Integer);
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal(2, c.Read().Integer);
        Assert.StartsWith("ERR unknown command 'NOSUCHCOMMAND'", c.Read().Text, StringComparison.Ordinal);
        Assert.Equal(0, c.Read().Integer);
        Assert.True(c.Read().IsNull);
    }

    [Fact]
    public async Task Multi_key_commands_grouped_ahead_of_an_op_run_in_its_batch()
    {
        var (server, a, b) = await StartWithTagsAsync();
        await using var s = server;
        using var c = s.Connect();

        // Each round, sent alone, opens with multi-key commands on one shard each, grouped as keyed commands, until an op
        // over both shards comes: they are taken into its batch rather than sent ahead of it.
        const int Rounds = 200;
        var before = await ShardTags.MessagesAsync(s);
        for (var i = 0; i < Rounds; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            c.SendRaw(Concat(
                RespConnection.Encode("MSET", $"{b}x:{n}", $"w{n}", $"{b}y:{n}", "1"),
                RespConnection.Encode("MGET", $"{a}x:{n}", $"{a}y:{n}"),
                RespConnection.Encode("EXISTS", $"{b}x:{n}", $"{b}z:{n}"),
                RespConnection.Encode("MGET", $"{a}x:{n}", $"{b}x:{n}"),
                RespConnection.Encode("DEL", $"{b}x:{n}", $"{b}y:{n}", $"{a}x:{n}")));
            Assert.Equal("OK", c.Read().Text);
            Assert.All(c.Read().Items!, v => Assert.True(v.IsNull));
            Assert.Equal(1, c.Read().Integer);
            Assert.Equal([null, $"w{n}"], c.Read().Items!.Select(v => v.IsNull ? null : v.Text));
            Assert.Equal(2, c.Read().Integer);
        }

        // Sent ahead as groups, the commands before the op cost a round trip of their own before its batch: two messages
        // a round more (802 in all here, against 402).
        await ShardTags.AssertFewerMessagesSinceAsync(s, before, 600);

        // What can't run in a batch stays where it is: MSETNX, and a call with an error to answer.
        c.SendRaw(Concat(
            RespConnection.Encode("MSETNX", $"{a}n", "1", $"{a}m", "1"),
            RespConnection.Encode("MGET", $"{a}n", $"{b}k"),
            RespConnection.Encode("MGET", $"{b}k", $"{b}j"),
            RespConnection.Encode("MSET", $"{a}q", "1", $"{b}q"),
            RespConnection.Encode("MSET", $"{b}r", "1", $"{b}s", "2"),
            RespConnection.Encode("MSET", $"{b}t", "1", $"{b}t"),
            RespConnection.Encode("MGET", $"{a}n", $"{b}r", $"{b}s")));
        Assert.Equal(1, c.Read().Integer);
        Assert.Equal(["1", null], c.Read().Items!.Select(v => v.IsNull ? null : v.Text));
        Assert.All(c.Read().Items!, v => Assert.True(v.IsNull));
        Assert.Equal("ERR wrong number of arguments for 'mset' command", c.Read().Text);
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal("ERR wrong number of arguments for 'mset' command", c.Read().Text);
        Assert.Equal(["1", "1", "2"], c.Read().Items!.Select(v => v.Text));
    }

    [Fact]
    public async Task Keyed_commands_among_ops_run_in_their_batch_and_are_counted_once()
    {
        var (server, a, b) = await StartWithTagsAsync();
        await using var s = server;
        using var c = s.Connect();
        Assert.Equal("OK", c.Call("CONFIG", "RESETSTAT").Text);

        // GET, SET and INCR between MGETs and DELs over both shards: each keyed command joins the batch as an op
        // (KeyedOp) rather than cutting the pipeline into a round trip per change.
        const int Rounds = 200;
        var pipeline = new List<byte[]>();
        for (var i = 0; i < Rounds; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            pipeline.Add(RespConnection.Encode("SET", $"{a}k:{n}", $"v{n}"));
            pipeline.Add(RespConnection.Encode("MGET", $"{a}k:{n}", $"{b}c"));
            pipeline.Add(RespConnection.Encode("INCR", $"{b}c"));
            pipeline.Add(RespConnection.Encode("GET", $"{a}k:{n}"));
            pipeline.Add(RespConnection.Encode("DEL", $"{a}k:{n}", $"{b}none"));
        }

        var before = await ShardTags.MessagesAsync(s);
        c.SendRaw(pipeline.SelectMany(p => p).ToArray());
        for (var i = 0; i < Rounds; i++)
        {
            var n = i.ToString(CultureInfo.InvariantCulture);
            Assert.Equal("OK", c.Read().Text);
            Assert.Equal([$"v{n}", i == 0 ? null : i.ToString(CultureInfo.InvariantCulture)], c.Read().Items!.Select(v => v.IsNull ? null : v.Text));
            Assert.Equal(i + 1, c.Read().Integer);
            Assert.Equal($"v{n}", c.Read().Text);
            Assert.Equal(1, c.Read().Integer);
        }

        // 1,000 commands, 400 of them ops over both shards: with each keyed command a barrier between batches, each
        // change cost a round trip (1,202 messages here); in batches of 16 commands they cost a few per batch (126 here).
        await ShardTags.AssertFewerMessagesSinceAsync(s, before, 600);

        // Counted once each, by the shard that ran them, as in a group.
        var stats = c.Call("INFO", "commandstats").Text!;
        foreach (var command in new[] { "set", "get", "incr", "mget", "del" })
        {
            Assert.Contains($"cmdstat_{command}:calls={Rounds},", stats, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Each_op_of_a_batch_is_counted_with_the_time_it_ran()
    {
        var (server, a, b) = await StartWithTagsAsync();
        await using var s = server;
        using var c = s.Connect();

        // 900 values of 1 KB over both shards: an MGET of them all does far more than an EXISTS of two keys.
        const int Keys = 900;
        var value = new string('v', 1024);
        var mset = new List<string> { "MSET" };
        var mget = new List<string> { "MGET" };
        for (var i = 0; i < Keys; i++)
        {
            var key = $"{(i % 2 == 0 ? a : b)}big:{i.ToString(CultureInfo.InvariantCulture)}";
            mset.Add(key);
            mset.Add(value);
            mget.Add(key);
        }

        Assert.Equal("OK", c.Call([.. mset]).Text);
        Assert.Equal("OK", c.Call("CONFIG", "RESETSTAT").Text);

        // Each round is one batch: the MGET, then 15 EXISTS over both shards.
        const int Rounds = 40;
        const int Small = 15;
        var round = RespConnection.Encode([.. mget]);
        var exists = RespConnection.Encode("EXISTS", $"{a}big:0", $"{b}big:1");
        var pipeline = new List<byte[]>();
        for (var r = 0; r < Rounds; r++)
        {
            pipeline.Add(round);
            pipeline.AddRange(Enumerable.Repeat(exists, Small));
        }

        var before = await ShardTags.MessagesAsync(s);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        c.SendRaw(pipeline.SelectMany(p => p).ToArray());
        for (var r = 0; r < Rounds; r++)
        {
            Assert.Equal(Keys, c.Read().Items!.Count);
            for (var i = 0; i < Small; i++)
            {
                Assert.Equal(2, c.Read().Integer);
            }
        }

        clock.Stop();

        // Batched: one at a time, each of the 640 ops would cost a message to the other shard and one back.
        await ShardTags.AssertFewerMessagesSinceAsync(s, before, 600);

        var stats = c.Call("INFO", "commandstats").Text!;
        var mgetUsec = Usec(stats, "mget", Rounds);
        var existsUsec = Usec(stats, "exists", Rounds * Small);

        // Each op counted with its batch's whole time made the 15 EXISTS of a batch count 15 times the MGET's time.
        Assert.True(mgetUsec > existsUsec, $"MGET {mgetUsec} us, EXISTS {existsUsec} us");

        // The ops of one connection run one after another: together they ran within the time the client waited.
        Assert.True(mgetUsec + existsUsec <= clock.Elapsed.TotalMicroseconds, $"{mgetUsec} + {existsUsec} us counted in {clock.Elapsed.TotalMicroseconds} us");
    }

    /// <summary>A server of 2 shards, and a hash tag for keys on each.</summary>
    private static async Task<(InProcessServer Server, string A, string B)> StartWithTagsAsync()
    {
        var slots = new SlotMap(2);
        return (await InProcessServer.StartAsync(), ShardTags.FirstTagOn(slots, 0), ShardTags.FirstTagOn(slots, 1));
    }

    /// <summary>The usec INFO commandstats gives <paramref name="command"/>, checking it was called <paramref name="calls"/> times.</summary>
    private static long Usec(string stats, string command, int calls)
    {
        var match = System.Text.RegularExpressions.Regex.Match(stats, $@"cmdstat_{command}:calls=(\d+),usec=(\d+),");
        Assert.True(match.Success, stats);
        Assert.Equal(calls, int.Parse(match.Groups[1].Value, CultureInfo.InvariantCulture));
        return long.Parse(match.Groups[2].Value, CultureInfo.InvariantCulture);
    }

    private static byte[] Concat(params byte[][] parts) => parts.SelectMany(p => p).ToArray();
}
