using System.Net.Sockets;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// Clients whose requests ask for hundreds of MB of replies: the memory goes back to the system when they go, replies
/// built on other shards don't pile up, and their loop's other clients are still served meanwhile. They run alone, after
/// the parallel tests: the peak they bound depends on the server's loops getting the CPU, which other tests' servers
/// on the same 2 cores took (1,322 MB against about 570 MB alone).
/// </summary>
[Collection(BigReplyCollection.Name)]
public sealed class BigReplyTests
{
    private const int ValueBytes = 1024 * 1024;

    [Fact]
    public void Memory_of_clients_cut_off_at_their_output_limit_goes_back_to_the_system()
    {
        // 16 clients, 8 at a time, each asks for 300 MB and reads nothing, so each is cut off at the 256 MB hard limit.
        // Their buffers went back to the array pool, which keeps them for good: the idle server stayed at gigabytes.
        // While they run, no more than a few buffers may be alive at once: a loop running a group of 300 GETs must
        // wake the group's home loop when it is done, not when its whole turn is, or the built groups pile up.
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using (var c = server.Connect())
        {
            Assert.Equal("OK", c.Call("SET", "big", new string('b', ValueBytes)).Text);
        }

        long peak = 0;
        var sampling = true;
        var sampler = new Thread(() =>
        {
            try
            {
                while (Volatile.Read(ref sampling))
                {
                    peak = Math.Max(peak, RssMegabytes(server));
                    Thread.Sleep(20);
                }
            }
            catch (IOException)
            {
                // The server is gone: the test fails on its own assertions.
            }
        });
        sampler.Start();

        var request = Repeat(RespConnection.Encode("GET", "big"), 300);
        try
        {
            RunRounds(server, request);
        }
        finally
        {
            Volatile.Write(ref sampling, false);
            sampler.Join();
        }

        // A client on the key's own loop has its 256 MB built in its output buffer, one client at a time; one on the other
        // loop has them built in a group, which its home takes as soon as it is done. Measured: about 570 MB at the
        // peak; with the home woken only at the end of the builder's turn, groups piled up to 1,340 MB.
        Assert.True(peak < 1000, $"peak RSS {peak} MB while the clients ran");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long rss;
        while ((rss = RssMegabytes(server)) > 300)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the idle server still holds {rss} MB after its clients were cut off (peak {peak} MB)");
            Thread.Sleep(100);
        }

        using var after = server.Connect();
        Assert.Equal(ValueBytes, after.Call("GET", "big").Text!.Length);
    }

    [Fact]
    public void A_loop_serves_its_other_clients_while_one_client_pulls_hundreds_of_megabytes()
    {
        // 300 GETs of 1 MB are 7 KB of requests: one socket read. The pump ran them all before the loop served anyone
        // else, so a PING on the same loop waited until the client was cut off at its limit. It now yields every 4 MB
        // of replies: the PING is answered while the big client is still being served.
        using var server = ServerProcess.StartBasalt("--shards", "1", "--client-output-buffer-limit", "normal", "0", "0", "0");
        using var neighbour = server.Connect();
        Assert.Equal("OK", neighbour.Call("SET", "big", new string('b', ValueBytes)).Text);
        using var big = server.Connect();
        var bigId = big.Call("CLIENT", "ID").Integer;
        big.Socket.ReceiveBufferSize = 4096;
        big.SendRaw(Repeat(RespConnection.Encode("GET", "big"), 500));

        // Wait until the server has begun on the big client's requests: its output backlog shows in CLIENT LIST.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!BacklogOf(neighbour.Call("CLIENT", "LIST").Text!, bigId, out var pending) || pending == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the big client's requests never ran");
        }

        // 500 MB of replies is over 100 pumps of 4 MB; the PING is answered in between, and the big client is still there.
        Assert.Equal("PONG", neighbour.Call("PING").Text);
        var list = neighbour.Call("CLIENT", "LIST").Text!;
        Assert.True(BacklogOf(list, bigId, out var backlog), "the big client was gone before the PING was answered");
        Assert.True(backlog < 400L * ValueBytes, $"the big client's replies were nearly all built before the PING ran ({backlog} bytes)");
    }

    [Fact]
    public void A_group_for_another_shard_builds_no_more_than_what_is_left_of_its_clients_limit()
    {
        // The client never reads. 200 GETs of a 1 MB value on its own shard leave about 200 MB waiting; then 100 GETs of
        // a 1 MB value on the other shard go there as one group. Only about 56 MB is left of the 256 MB hard limit, so
        // the group stops there and the client is cut off. It used to be allowed the whole limit: it ran all 100 GETs
        // (100 MB, under the limit by itself) for a client already bound to be cut off.
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var observer = server.Connect();
        using var c = server.Connect();
        var (near, far) = SetNearAndFar(observer, c, ValueBytes);

        c.Socket.ReceiveBufferSize = 4096;
        var requests = new MemoryStream();
        requests.Write(Repeat(RespConnection.Encode("GET", near), 200));
        requests.Write(Repeat(RespConnection.Encode("GET", far), 100));
        c.SendRaw(requests.ToArray());

        WaitUntilOnlyObserverIsLeft(observer);

        var calls = GetCalls(observer);
        Assert.InRange(calls, 201, 280);
    }

    [Fact]
    public void The_groups_of_one_batch_share_their_clients_limit()
    {
        // One pipeline, GETs of a 50 MB value on each of two shards: two groups of 200 MB, each under the 256 MB limit by
        // itself. Each group was bounded alone, so a batch over k shards could build k limits' worth (past 2 GB in all,
        // where the merge threw, the client hung and the groups' buffers leaked). They now share one allowance: they stop
        // once their sum reaches it, and the client is cut off as over its limit.
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var observer = server.Connect();
        using var c = server.Connect();
        var (near, far) = SetNearAndFar(observer, c, 50 * 1024 * 1024);

        c.Socket.ReceiveBufferSize = 4096;
        var requests = new MemoryStream();
        for (var i = 0; i < 4; i++)
        {
            requests.Write(RespConnection.Encode("GET", far));
            requests.Write(RespConnection.Encode("GET", near));
        }

        c.SendRaw(requests.ToArray());
        WaitUntilOnlyObserverIsLeft(observer);

        Assert.True(server.WaitForLog("replies of one batch passed client-output-buffer-limit", TimeSpan.FromSeconds(10)), server.Log);
        var calls = GetCalls(observer);
        Assert.InRange(calls, 5, 7);
        Assert.Equal("PONG", observer.Call("PING").Text);
    }

    [Fact]
    public void A_command_whose_reply_would_pass_the_limit_is_cut_off_before_its_reply_is_built()
    {
        // MGET naming one 1 MB value 200 times asks for 200 MB from 2 MB of data, past the client's 16 MB limit. The reply
        // was built whole first (in the output, a group's replies, or an op's per-shard parts and then the output) and
        // the client cut off after: a 10 MB value named 300 times took an idle server to 5 GB. Every reply buffer now
        // stops at what its client may hold, and the client is cut off there.
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "16mb", "0", "0");
        using var observer = server.Connect();
        var (near, far) = SetNearAndFar(observer, observer, ValueBytes);
        var start = HighWaterMegabytes(server);

        string[][] requests =
        [
            ["MGET", .. Enumerable.Repeat(near, 200)],
            ["MGET", .. Enumerable.Repeat(far, 200)],
            ["MGET", .. Enumerable.Range(0, 200).Select(i => i % 2 == 0 ? near : far)],
            ["ECHO", new string('e', 20 * 1024 * 1024)],
        ];
        foreach (var args in requests)
        {
            // Each case from a connection on either loop: a one-shard MGET runs inline on its own shard's loop, and
            // in a group from the other.
            for (var i = 0; i < 2; i++)
            {
                using var c = server.Connect();
                c.SendRaw(RespConnection.Encode(args));
                Assert.True(c.IsClosedWithoutReply(30_000), $"{args[0]} of {args.Length - 1} arguments was answered");
            }
        }

        // 16 pipelined MGETs over both shards, 20 MB each: an op batch, its per-shard parts bounded by the same limit.
        using (var c = server.Connect())
        {
            var mget = RespConnection.Encode(["MGET", .. Enumerable.Range(0, 20).Select(i => i % 2 == 0 ? near : far)]);
            c.SendRaw(Repeat(mget, 16));
            Assert.True(c.IsClosedWithoutReply(30_000), "the batch was answered");
        }

        Assert.True(server.WaitForLog("a reply would have passed client-output-buffer-limit", TimeSpan.FromSeconds(10)), server.Log);
        var grown = HighWaterMegabytes(server) - start;
        Assert.True(grown < 100, $"the server's peak memory grew by {grown} MB for replies it never sent");
        Assert.Equal("PONG", observer.Call("PING").Text);
        Assert.Equal(ValueBytes, observer.Call("GET", far).Text!.Length);
    }

    [Fact]
    public void A_limit_raised_by_CONFIG_SET_in_the_same_pipeline_holds_for_the_commands_after_it()
    {
        // The output's bound was taken once per pass: a GET after a CONFIG SET that lifted the limit, in one pipeline, was
        // still held to the old 1 MB, and its client cut off (on the other shard's side, as an internal error).
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "1mb", "0", "0");
        using var observer = server.Connect();
        var (near, far) = SetNearAndFar(observer, observer, 3 * ValueBytes);
        foreach (var key in new[] { near, far, near, far })
        {
            using var c = server.Connect();
            Assert.Equal("OK", c.Call("CONFIG", "SET", "client-output-buffer-limit", "normal 1mb 0 0").Text);
            c.SendRaw([.. RespConnection.Encode("CONFIG", "SET", "client-output-buffer-limit", "normal 0 0 0"), .. RespConnection.Encode("GET", key), .. RespConnection.Encode("MGET", key, key)]);
            Assert.Equal("OK", c.Read().Text);
            Assert.Equal(3 * ValueBytes, c.Read().Text!.Length);
            Assert.All(c.Read().Items!, v => Assert.Equal(3 * ValueBytes, v.Text!.Length));
        }

        Assert.DoesNotContain("OutputLimitException", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public void A_big_reply_buffer_is_kept_between_replies_and_given_back_once_unused()
    {
        // Unmapped as soon as each 2 MB reply was sent, the buffer was mapped and faulted in again for the next one:
        // sequential GETs of a 2 MB value ran at a third of the speed. It is now kept while in use and given back
        // once no big buffer has been needed for 2 s. CLIENT LIST's rbs is the reply buffer's size.
        using var server = ServerProcess.StartBasalt("--shards", "1");
        using var observer = server.Connect();
        using var c = server.Connect();
        var id = c.Call("CLIENT", "ID").Integer;
        Assert.Equal("OK", c.Call("SET", "two", new string('t', 2 * ValueBytes)).Text);
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal(2 * ValueBytes, c.Call("GET", "two").Text!.Length);
        }

        Assert.True(ReplyBufferOf(observer, id) > BufferPool.MaxPooled, "the big reply buffer was given back at once");
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (ReplyBufferOf(observer, id) > BufferPool.MaxPooled)
        {
            Assert.True(DateTime.UtcNow < deadline, "the big reply buffer was never given back");
            Thread.Sleep(100);
        }

        Assert.Equal(2 * ValueBytes, c.Call("GET", "two").Text!.Length);
    }

    [Fact]
    public void Big_buffers_are_given_back_while_the_client_goes_on_with_small_requests()
    {
        // A buffer counted as used whenever it was big, not when its size was needed: every PING after one big SET and
        // one big GET kept both buffers (up to 1 GB each after a 512 MB value) for the life of the connection.
        using var server = ServerProcess.StartBasalt("--shards", "1");
        using var observer = server.Connect();
        using var c = server.Connect();
        var id = c.Call("CLIENT", "ID").Integer;
        Assert.Equal("OK", c.Call("SET", "two", new string('t', 2 * ValueBytes)).Text);
        Assert.Equal(2 * ValueBytes, c.Call("GET", "two").Text!.Length);
        Assert.True(ReplyBufferOf(observer, id) > BufferPool.MaxPooled, "the reply buffer never grew");
        Assert.True(InputBufferOf(observer, id) > BufferPool.MaxPooled, "the input buffer never grew");

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (ReplyBufferOf(observer, id) > BufferPool.MaxPooled || InputBufferOf(observer, id) > BufferPool.MaxPooled)
        {
            Assert.True(DateTime.UtcNow < deadline, $"big buffers kept while in small use: rbs {ReplyBufferOf(observer, id)}, input {InputBufferOf(observer, id)}");
            Assert.Equal("PONG", c.Call("PING").Text);
            Thread.Sleep(100);
        }

        Assert.Equal(2 * ValueBytes, c.Call("GET", "two").Text!.Length);
    }

    [Theory]
    [InlineData(40_000)]
    [InlineData(100_000)]
    public void A_big_input_buffer_is_given_back_when_the_client_goes_quiet_after_one_big_request(int pairs)
    {
        // A request of many small arguments grows the buffer by doubling, as its size is not known ahead: the last read
        // is then short, nothing compacts the answered request, nothing counted the big buffer as used, and no trim
        // was ever armed for it.
        using var server = ServerProcess.StartBasalt("--shards", "1");
        using var observer = server.Connect();
        using var c = server.Connect();
        var id = c.Call("CLIENT", "ID").Integer;
        var mset = new List<string> { "MSET" };
        for (var i = 0; i < pairs; i++)
        {
            mset.Add("key:" + i);
            mset.Add("value:" + i);
        }

        Assert.Equal("OK", c.Call([.. mset]).Text);
        Assert.True(InputBufferOf(observer, id) > BufferPool.MaxPooled, "the input buffer never grew");

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (InputBufferOf(observer, id) > BufferPool.MaxPooled)
        {
            Assert.True(DateTime.UtcNow < deadline, $"a quiet client kept its big input buffer: {InputBufferOf(observer, id)} bytes");
            Thread.Sleep(100);
        }

        Assert.Equal(pairs, c.Call("DBSIZE").Integer);
    }

    [Fact]
    public void A_big_input_buffer_is_given_back_while_a_small_request_waits_half_sent()
    {
        // A big SET, then the first bytes of a PING, and a pause: the input was given back only when empty, so ten
        // bytes kept the big buffer for as long as the client waited. Redis trims its query buffer to what it holds.
        using var server = ServerProcess.StartBasalt("--shards", "1");
        using var observer = server.Connect();
        using var c = server.Connect();
        var id = c.Call("CLIENT", "ID").Integer;
        Assert.Equal("OK", c.Call("SET", "big", new string('b', (3 * ValueBytes) + 1)).Text);
        c.SendRaw("*1\r\n$4\r\nPI"u8.ToArray());

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (InputBufferOf(observer, id) > BufferPool.MaxPooled)
        {
            Assert.True(DateTime.UtcNow < deadline, $"a half-sent request kept the big input buffer: {InputBufferOf(observer, id)} bytes");
            Thread.Sleep(100);
        }

        c.SendRaw("NG\r\n"u8.ToArray());
        Assert.Equal("PONG", c.Read().Text);
        Assert.Equal((3 * ValueBytes) + 1, c.Call("STRLEN", "big").Integer);
    }

    // The input buffer's size: CLIENT LIST's tot-mem is it plus the reply buffer (omem).
    private static long InputBufferOf(RespConnection observer, long id) => ClientField(observer, id, "tot-mem") - ClientField(observer, id, "omem");

    private static long ClientField(RespConnection observer, long id, string name)
    {
        var line = observer.Call("CLIENT", "LIST").Text!.Split('\n').Single(l => l.StartsWith($"id={id} ", StringComparison.Ordinal));
        var field = line.Split(' ').Single(f => f.StartsWith(name + "=", StringComparison.Ordinal));
        return long.Parse(field[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static long ReplyBufferOf(RespConnection observer, long id) => ClientField(observer, id, "rbs");

    /// <summary>Sets a value of <paramref name="size"/> bytes on a key of <paramref name="c"/>'s own shard and one of the other, then resets the command stats.</summary>
    private static (string Near, string Far) SetNearAndFar(RespConnection observer, RespConnection c, int size)
    {
        var (near, far) = NearAndFarKeys(c);
        Assert.Equal("OK", observer.Call("SET", near, new string('n', size)).Text);
        Assert.Equal("OK", observer.Call("SET", far, new string('f', size)).Text);
        Assert.Equal("OK", observer.Call("CONFIG", "RESETSTAT").Text);
        return (near, far);
    }

    /// <summary>A key on <paramref name="c"/>'s own shard and one on the other, of 2 (client id n is served by loop (n - 1) mod 2).</summary>
    private static (string Near, string Far) NearAndFarKeys(RespConnection c)
    {
        var loop = (int)((c.Call("CLIENT", "ID").Integer - 1) % 2);
        var slots = new Basalt.Engine.SlotMap(2);
        return (KeyOn(slots, loop, "near"), KeyOn(slots, 1 - loop, "far"));
    }

    /// <summary>Waits until the clients over their output limit are cut off: the observer is the only one left.</summary>
    private static void WaitUntilOnlyObserverIsLeft(RespConnection observer)
    {
        var deadline = DateTime.UtcNow.AddSeconds(60);
        while (ConnectedClients(observer) > 1)
        {
            Assert.True(DateTime.UtcNow < deadline, "clients over their output limit were not cut off");
            Thread.Sleep(50);
        }
    }

    /// <summary>GET's calls since CONFIG RESETSTAT, from INFO commandstats.</summary>
    private static int GetCalls(RespConnection observer)
    {
        var stats = observer.Call("INFO", "commandstats").Text!;
        var line = stats.Split("\r\n").Single(l => l.StartsWith("cmdstat_get:", StringComparison.Ordinal));
        return int.Parse(line.Split(',')[0]["cmdstat_get:calls=".Length..], System.Globalization.CultureInfo.InvariantCulture);
    }

    private static string KeyOn(Basalt.Engine.SlotMap slots, int shard, string prefix)
    {
        for (var i = 0; ; i++)
        {
            var key = prefix + ":" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            if (slots.ShardOf(System.Text.Encoding.UTF8.GetBytes(key)) == shard)
            {
                return key;
            }
        }
    }

    private static void RunRounds(ServerProcess server, byte[] request)
    {
        using var observer = server.Connect();
        for (var round = 0; round < 2; round++)
        {
            var clients = new List<RespConnection>();
            for (var i = 0; i < 8; i++)
            {
                var c = server.Connect();
                c.Socket.ReceiveBufferSize = 4096;
                clients.Add(c);
            }

            foreach (var c in clients)
            {
                c.SendRaw(request);
            }

            // They read nothing (reading would let them off the limit): the server's own count shows when all are cut off.
            WaitUntilOnlyObserverIsLeft(observer);

            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }

    private static long ConnectedClients(RespConnection observer)
    {
        foreach (var line in observer.Call("INFO", "clients").Text!.Split("\r\n"))
        {
            if (line.StartsWith("connected_clients:", StringComparison.Ordinal))
            {
                return long.Parse(line["connected_clients:".Length..], System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        throw new InvalidOperationException("no connected_clients in INFO");
    }

    private static byte[] Repeat(byte[] request, int times)
    {
        var all = new byte[request.Length * times];
        for (var i = 0; i < times; i++)
        {
            request.CopyTo(all, i * request.Length);
        }

        return all;
    }

    /// <summary>The client's obl (unsent reply bytes) from CLIENT LIST; false if it isn't listed.</summary>
    private static bool BacklogOf(string clientList, long id, out long pending)
    {
        foreach (var line in clientList.Split('\n'))
        {
            if (!line.StartsWith($"id={id} ", StringComparison.Ordinal))
            {
                continue;
            }

            var field = line.Split(' ').First(f => f.StartsWith("obl=", StringComparison.Ordinal));
            pending = long.Parse(field["obl=".Length..], System.Globalization.CultureInfo.InvariantCulture);
            return true;
        }

        pending = 0;
        return false;
    }

    private static long RssMegabytes(ServerProcess server) => StatusMegabytes(server, "VmRSS:");

    /// <summary>The most resident memory the server has had since it started.</summary>
    private static long HighWaterMegabytes(ServerProcess server) => StatusMegabytes(server, "VmHWM:");

    private static long StatusMegabytes(ServerProcess server, string field)
    {
        foreach (var line in File.ReadLines($"/proc/{server.Pid}/status"))
        {
            if (line.StartsWith(field, StringComparison.Ordinal))
            {
                return long.Parse(line[field.Length..].Trim().Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture) / 1024;
            }
        }

        throw new InvalidOperationException($"no {field} line");
    }
}

/// <summary>The tests that measure a peak of memory, run with nothing else in parallel.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class BigReplyCollection
{
    public const string Name = "big replies, alone";
}
