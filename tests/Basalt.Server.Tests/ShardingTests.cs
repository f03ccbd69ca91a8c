using System.Globalization;
using Basalt.Engine;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>Routing by hash slot, pipelines spread over shards, SCAN across shards, compare-and-set.</summary>
[Collection("basalt")]
public sealed class ShardingTests(BasaltFixture fixture)
{
    [Fact]
    public void Hash_slots_match_redis_cluster()
    {
        // Reference values from the Redis Cluster specification's CRC16 test vector and redis-cli CLUSTER KEYSLOT.
        Assert.Equal(0x31C3, HashSlot.Crc16("123456789"u8));
        Assert.Equal(12182, HashSlot.Of("foo"u8));
        Assert.Equal(HashSlot.Of("user1000"u8), HashSlot.Of("{user1000}.following"u8));

        // An empty tag does not count: the whole key is hashed.
        Assert.Equal(HashSlot.Crc16("{}a"u8) & 16383, HashSlot.Of("{}a"u8));
        Assert.Equal(HashSlot.Of("a"u8), HashSlot.Of("x{a}y{b}"u8));
    }

    [Fact]
    public void A_pipeline_over_every_shard_replies_in_request_order()
    {
        using var c = fixture.Connect();
        var ms = new MemoryStream();
        const int N = 2000;
        for (var i = 0; i < N; i++)
        {
            ms.Write(RespConnection.Encode("SET", $"order:{i}", $"v{i}"));
            ms.Write(RespConnection.Encode("INCR", $"order:n:{i % 37}"));
            if (i % 100 == 0)
            {
                ms.Write(RespConnection.Encode("PING", $"p{i}"));
                ms.Write(RespConnection.Encode("MGET", $"order:{i}", $"order:{i / 2}"));
            }

            ms.Write(RespConnection.Encode("GET", $"order:{i}"));
        }

        c.SendRaw(ms.ToArray());
        var counters = new long[37];
        for (var i = 0; i < N; i++)
        {
            Assert.Equal("OK", c.Read().Text);
            var n = c.Read();
            Assert.Equal(RespType.Integer, n.Type);
            Assert.True(n.Integer > counters[i % 37]);
            counters[i % 37] = n.Integer;
            if (i % 100 == 0)
            {
                Assert.Equal($"p{i}", c.Read().Text);
                var m = c.Read();
                Assert.Equal($"v{i}", m.Items![0].Text);
                Assert.Equal($"v{i / 2}", m.Items![1].Text);
            }

            Assert.Equal($"v{i}", c.Read().Text);
        }
    }

    [Fact]
    public void Select_in_a_pipeline_applies_to_the_commands_after_it()
    {
        using var c = fixture.Connect();
        var ms = new MemoryStream();
        ms.Write(RespConnection.Encode("SELECT", "5"));
        ms.Write(RespConnection.Encode("SET", "seldb:a", "five"));
        ms.Write(RespConnection.Encode("SELECT", "0"));
        ms.Write(RespConnection.Encode("GET", "seldb:a"));
        ms.Write(RespConnection.Encode("SELECT", "5"));
        ms.Write(RespConnection.Encode("GET", "seldb:a"));
        c.SendRaw(ms.ToArray());
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal("OK", c.Read().Text);
        Assert.True(c.Read().IsNull);
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal("five", c.Read().Text);
    }

    [Fact]
    public void Scan_walks_every_shard_and_returns_each_key()
    {
        using var c = fixture.Connect();
        c.Call("SELECT", "9");
        c.Call("FLUSHDB");
        var expected = new HashSet<string>();
        for (var i = 0; i < 1000; i++)
        {
            expected.Add($"scan:{i}");
            c.Call("SET", $"scan:{i}", "x");
        }

        c.Call("SET", "other", "x");
        var seen = new HashSet<string>();
        var cursor = "0";
        var calls = 0;
        do
        {
            var r = c.Call("SCAN", cursor, "MATCH", "scan:*", "COUNT", "50");
            cursor = r.Items![0].Text;
            foreach (var k in r.Items[1].Items!)
            {
                seen.Add(k.Text);
            }

            Assert.True(++calls < 10_000);
        }
        while (cursor != "0");

        Assert.Equal(expected.Order(), seen.Order());
        Assert.Equal(1001, c.Call("DBSIZE").Integer);
    }

    [Fact]
    public void Scan_keeps_returning_keys_present_throughout_while_the_table_grows()
    {
        using var c = fixture.Connect();
        c.Call("SELECT", "10");
        c.Call("FLUSHDB");
        for (var i = 0; i < 300; i++)
        {
            c.Call("SET", $"stable:{i}", "x");
        }

        var seen = new HashSet<string>();
        var cursor = "0";
        var added = 0;
        do
        {
            var r = c.Call("SCAN", cursor, "COUNT", "20");
            cursor = r.Items![0].Text;
            foreach (var k in r.Items[1].Items!)
            {
                seen.Add(k.Text);
            }

            for (var j = 0; j < 50; j++)
            {
                c.Call("SET", $"grow:{added++}", "x");
            }
        }
        while (cursor != "0");

        for (var i = 0; i < 300; i++)
        {
            Assert.Contains($"stable:{i}", seen);
        }
    }

    [Fact]
    public void Command_introspection_reads_the_table()
    {
        using var c = fixture.Connect();
        var count = c.Call("COMMAND", "COUNT").Integer;
        var all = c.Call("COMMAND");
        Assert.Equal(count, all.Items!.Count);
        var get = c.Call("COMMAND", "INFO", "get").Items![0].Items!;
        Assert.Equal("get", get[0].Text);
        Assert.Equal(2, get[1].Integer);
        Assert.Equal(["readonly", "fast"], get[2].Items!.Select(f => f.Text));
        Assert.Equal([1L, 1L, 1L], get.Skip(3).Take(3).Select(v => v.Integer));
        Assert.Equal(["@read", "@string", "@fast"], get[6].Items!.Select(f => f.Text));
        var mset = c.Call("COMMAND", "INFO", "mset").Items![0].Items!;
        Assert.Equal([1L, -1L, 2L], mset.Skip(3).Take(3).Select(v => v.Integer));
        Assert.Contains("mget", c.Call("COMMAND", "LIST", "FILTERBY", "ACLCAT", "read").Items!.Select(v => v.Text));
        var docs = c.Call("COMMAND", "DOCS", "set").Items!;
        Assert.Equal("set", docs[0].Text);
        Assert.Equal("string", docs[1].Items![5].Text);
    }

    [Fact]
    public void Info_sums_every_shard()
    {
        using var c = fixture.Connect();
        c.Call("SELECT", "11");
        c.Call("FLUSHDB");
        for (var i = 0; i < 50; i++)
        {
            c.Call("SET", $"info:{i}", "v", "EX", "1000");
        }

        var keyspace = c.Call("INFO", "keyspace").Text;
        Assert.Contains("db11:keys=50,expires=50", keyspace, StringComparison.Ordinal);
        var commandstats = c.Call("INFO", "commandstats").Text;
        Assert.Matches(@"cmdstat_set:calls=\d+,usec=\d+,usec_per_call=[\d.]+,rejected_calls=0,failed_calls=0", commandstats);
        Assert.DoesNotContain("# Keyspace", commandstats, StringComparison.Ordinal);

        // Bytes read count on the loop that reads them: one PING through a new connection on each loop (they are handed
        // out in turn), then this INFO, are all the input since the reset, summed over every loop.
        Assert.Equal("OK", c.Call("CONFIG", "RESETSTAT").Text);
        for (var loop = 0; loop < fixture.Shards; loop++)
        {
            using var other = fixture.Connect();
            Assert.Equal("PONG", other.Call("PING").Text);
        }

        var stats = c.Call("INFO", "stats").Text;
        var input = long.Parse(stats.Split("total_net_input_bytes:")[1].Split('\r')[0], CultureInfo.InvariantCulture);
        Assert.Equal((fixture.Shards * RespConnection.Encode("PING").Length) + RespConnection.Encode("INFO", "stats").Length, input);
    }

    [Fact]
    public void Set_IFEQ_and_IFNE_compare_and_set()
    {
        using var c = fixture.Connect();
        c.Call("DEL", "cas");
        Assert.True(c.Call("SET", "cas", "v1", "IFEQ", "v0").IsNull);
        Assert.Equal(0, c.Call("EXISTS", "cas").Integer);
        Assert.Equal("OK", c.Call("SET", "cas", "v1", "IFNE", "zzz").Text);
        Assert.True(c.Call("SET", "cas", "v2", "IFEQ", "nope").IsNull);
        Assert.Equal("v1", c.Call("GET", "cas").Text);
        Assert.Equal("OK", c.Call("SET", "cas", "v2", "IFEQ", "v1", "EX", "100").Text);
        Assert.Equal(100, c.Call("TTL", "cas").Integer);
        Assert.Equal("v2", c.Call("SET", "cas", "v3", "IFEQ", "different", "GET").Text);
        Assert.Equal("v2", c.Call("GET", "cas").Text);
        Assert.Equal("v2", c.Call("SET", "cas", "v3", "IFNE", "v1", "GET").Text);
        Assert.Equal("v3", c.Call("GET", "cas").Text);
        Assert.True(c.Call("SET", "cas", "v4", "IFNE", "v3").IsNull);
        Assert.Equal("ERR syntax error", c.Call("SET", "cas", "x", "IFEQ", "v3", "NX").Text);
        Assert.Equal("ERR syntax error", c.Call("SET", "cas", "x", "XX", "IFNE", "v3").Text);
        Assert.Equal("ERR syntax error", c.Call("SET", "cas", "x", "IFEQ").Text);
    }

    [Fact]
    public void Concurrent_IFEQ_increments_never_lose_an_update()
    {
        using (var setup = fixture.Connect())
        {
            setup.Call("SET", "cas:counter", "0");
        }

        const int Clients = 4;
        const int PerClient = 150;
        var threads = Enumerable.Range(0, Clients).Select(_ => new Thread(() =>
        {
            using var c = fixture.Connect();
            for (var done = 0; done < PerClient;)
            {
                var cur = c.Call("GET", "cas:counter").Text;
                var next = (long.Parse(cur, CultureInfo.InvariantCulture) + 1).ToString(CultureInfo.InvariantCulture);
                if (c.Call("SET", "cas:counter", next, "IFEQ", cur).Text == "OK")
                {
                    done++;
                }
            }
        })).ToList();
        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromMinutes(2))));
        using var check = fixture.Connect();
        Assert.Equal((Clients * PerClient).ToString(CultureInfo.InvariantCulture), check.Call("GET", "cas:counter").Text);
    }
}
