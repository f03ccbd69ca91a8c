using System.Net.Sockets;
using System.Text;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>Malformed, oversized and hostile input over real TCP: an error or a clean close, never a crash.</summary>
[Collection("basalt")]
public sealed class BadInputTests(BasaltFixture fixture)
{
    [Theory]
    [InlineData("*abc\r\n", "ERR Protocol error: invalid multibulk length")]
    [InlineData("*2000000\r\n", "ERR Protocol error: invalid multibulk length")]
    [InlineData("*1\r\n$-5\r\n", "ERR Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$999999999999\r\n", "ERR Protocol error: invalid bulk length")]
    [InlineData("*1\r\nfoo\r\n", "ERR Protocol error: expected '$', got 'f'")]
    [InlineData("\"unbalanced\r\n", "ERR Protocol error: unbalanced quotes in request")]
    public void Malformed_frame_gets_a_protocol_error_and_a_close(string frame, string error)
    {
        using var c = fixture.Connect();
        c.SendRaw(Encoding.ASCII.GetBytes(frame));
        var reply = c.Read();
        Assert.Equal(RespType.Error, reply.Type);
        Assert.Equal(error, reply.Text);
        Assert.True(c.IsClosedByServer());
        AssertServerServes();
    }

    [Fact]
    public void Commands_before_a_bad_frame_are_answered_first()
    {
        using var c = fixture.Connect();
        c.SendRaw("*1\r\n$4\r\nPING\r\n*x\r\n"u8);
        Assert.Equal("PONG", c.Read().Text);
        Assert.Equal(RespType.Error, c.Read().Type);
        Assert.True(c.IsClosedByServer());
    }

    [Fact]
    public void Inline_commands_work_as_in_telnet()
    {
        using var c = fixture.Connect();
        c.SendRaw("PING\r\nset inline:k \"a b\"\r\nget inline:k\n"u8);
        Assert.Equal("PONG", c.Read().Text);
        Assert.Equal("OK", c.Read().Text);
        Assert.Equal("a b", c.Read().Text);
    }

    [Fact]
    public void An_inline_line_without_newline_over_64k_is_refused()
    {
        using var c = fixture.Connect();
        c.SendRaw(Encoding.ASCII.GetBytes(new string('a', 70 * 1024)));
        var reply = c.Read();
        Assert.Equal("ERR Protocol error: too big inline request", reply.Text);
        Assert.True(c.IsClosedByServer());
    }

    [Fact]
    public void Random_garbage_never_takes_the_server_down()
    {
        var rng = new Random(42);
        for (var i = 0; i < 50; i++)
        {
            using var c = fixture.Connect();
            var junk = new byte[rng.Next(1, 4096)];
            rng.NextBytes(junk);
            c.SendRaw(junk);
            c.Socket.Shutdown(SocketShutdown.Send);
            _ = c.IsClosedByServer(2000);
        }

        AssertServerServes();
    }

    [Fact]
    public void Ten_thousand_pipelined_commands_are_answered_in_order()
    {
        using var c = fixture.Connect();
        var batch = new MemoryStream();
        for (var i = 0; i < 10_000; i++)
        {
            batch.Write(RespConnection.Encode("SET", $"pipe:{i}", i.ToString(System.Globalization.CultureInfo.InvariantCulture)));
            batch.Write(RespConnection.Encode("GET", $"pipe:{i}"));
        }

        c.SendRaw(batch.ToArray());
        for (var i = 0; i < 10_000; i++)
        {
            Assert.Equal("OK", c.Read().Text);
            Assert.Equal(i.ToString(System.Globalization.CultureInfo.InvariantCulture), c.Read().Text);
        }
    }

    [Fact]
    public void A_client_that_writes_its_whole_pipeline_before_reading_gets_every_reply()
    {
        // redis-py and hiredis send a whole pipeline before they read a reply. Its requests here are more than the
        // sockets' buffers hold, and its replies (about 43 MB) more than that again: a server that stopped reading the
        // client until it read its replies would leave both waiting for ever. Redis reads on, as Basalt must.
        const int Gets = 400_000;
        using var c = fixture.Connect();
        Assert.Equal("OK", c.Call("SET", "pipe:value", new string('v', 100)).Text);
        c.Socket.SendBufferSize = 64 * 1024;
        c.Socket.SendTimeout = 20_000;
        var get = RespConnection.Encode("GET", "pipe:value");
        var requests = new byte[get.Length * Gets];
        for (var i = 0; i < Gets; i++)
        {
            get.CopyTo(requests, i * get.Length);
        }

        try
        {
            c.SendRaw(requests);
        }
        catch (IOException ex)
        {
            Assert.Fail($"the server stopped reading the pipeline before its replies were read: {ex.Message}");
        }

        for (var i = 0; i < Gets; i++)
        {
            Assert.Equal(100, c.Read().Text!.Length);
        }

        Assert.Equal("PONG", c.Call("PING").Text);
    }

    [Fact]
    public void A_client_that_keeps_its_socket_full_shares_its_loop()
    {
        // A client that writes faster than its loop can run its commands always has input waiting. Its loop takes a
        // bounded share of it per turn and then serves its other clients: they are not held until the flood stops.
        var conns = new List<RespConnection>();
        try
        {
            RespConnection? flooder = null, neighbour = null;
            var loopOf = new Dictionary<long, RespConnection>();
            while (neighbour is null)
            {
                var c = fixture.Connect();
                conns.Add(c);
                var loop = (c.Call("CLIENT", "ID").Integer - 1) % fixture.Shards; // ids and loops advance together
                if (loopOf.TryGetValue(loop, out var first))
                {
                    (flooder, neighbour) = (first, c);
                }

                loopOf[loop] = c;
            }

            var ping = RespConnection.Encode("PING");
            var chunk = new byte[ping.Length * 10_000];
            for (var i = 0; i < 10_000; i++)
            {
                ping.CopyTo(chunk, i * ping.Length);
            }

            using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(4));
            void Quietly(Action body)
            {
                try
                {
                    body();
                }
                catch (SocketException)
                {
                    // The socket closed under it at the end.
                }
                catch (ObjectDisposedException)
                {
                }
            }

            var writer = new Thread(() => Quietly(() =>
            {
                while (!stop.IsCancellationRequested)
                {
                    flooder!.Socket.Send(chunk);
                }
            }))
            { IsBackground = true };

            // The replies are read until the socket closes, so the server never has a reason to stop reading the flood.
            var reader = new Thread(() => Quietly(() =>
            {
                var buffer = new byte[1 << 20];
                while (flooder!.Socket.Receive(buffer) > 0)
                {
                }
            }))
            { IsBackground = true };
            writer.Start();
            reader.Start();

            Thread.Sleep(300);
            var slowest = TimeSpan.Zero;
            for (var i = 0; i < 10; i++)
            {
                var watch = System.Diagnostics.Stopwatch.StartNew();
                Assert.Equal("PONG", neighbour.Call("PING").Text);
                slowest = watch.Elapsed > slowest ? watch.Elapsed : slowest;
            }

            Assert.False(stop.IsCancellationRequested, "the flood ended before the neighbour's PINGs were all answered");
            Assert.True(slowest < TimeSpan.FromSeconds(1), $"a PING on the flooded loop took {slowest}");
            stop.Token.WaitHandle.WaitOne();
            Assert.True(writer.Join(TimeSpan.FromSeconds(10)), "the flood's writer did not stop");
            flooder!.Socket.Shutdown(SocketShutdown.Both);
            Assert.True(reader.Join(TimeSpan.FromSeconds(10)), "the flood's reader did not stop");
        }
        finally
        {
            conns.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void A_client_that_never_reads_does_not_stall_others()
    {
        using (var setup = fixture.Connect())
        {
            Assert.Equal("OK", setup.Call("SET", "slow:big", new string('x', 100_000)).Text);
        }

        using var slow = fixture.Connect();
        slow.Socket.ReceiveBufferSize = 4096;
        var get = RespConnection.Encode("GET", "slow:big");
        var chunk = new byte[get.Length * 100];
        for (var i = 0; i < 100; i++)
        {
            get.CopyTo(chunk, i * get.Length);
        }

        // Write until the server cuts us off at the output limit (each GET queues a 100 KB reply) or 20 MB of
        // requests went out; meanwhile the other clients must be served.
        slow.Socket.SendTimeout = 2000;
        long sent = 0;
        try
        {
            while (sent < 20_000_000)
            {
                slow.SendRaw(chunk);
                sent += chunk.Length;
            }
        }
        catch (IOException)
        {
            // The server closed the connection: its replies passed client-output-buffer-limit.
        }

        Assert.True(slow.IsClosedByServer(10_000), $"a client that never reads was not cut off at its output limit ({sent} bytes of requests sent)");
        AssertServerServes();
    }

    [Fact]
    public void Declared_but_unsent_huge_bulk_does_not_block_others()
    {
        using var c = fixture.Connect();
        c.SendRaw("*2\r\n$3\r\nGET\r\n$100000000\r\nabc"u8);
        AssertServerServes();
    }

    [Fact]
    public void Unknown_command_and_wrong_arity_get_redis_errors()
    {
        using var c = fixture.Connect();
        Assert.Equal("ERR unknown command 'FOO', with args beginning with: 'bar' ", c.Call("FOO", "bar").Text);
        Assert.Equal("ERR wrong number of arguments for 'get' command", c.Call("GET").Text);
        Assert.Equal("PONG", c.Call("PING").Text);
    }

    /// <summary>
    /// Connections are handed to the loops in turn, so <see cref="BasaltFixture.Shards"/> new ones reach every loop, the
    /// bad client's own included; each writes and reads a key on every shard within 5 s, so no loop and no shard may be
    /// stuck behind the bad client.
    /// </summary>
    private void AssertServerServes()
    {
        var slots = new Basalt.Engine.SlotMap(fixture.Shards);
        var keys = new string?[fixture.Shards];
        for (var i = 0; Array.IndexOf(keys, null) >= 0; i++)
        {
            var key = "probe:" + i;
            keys[slots.ShardOf(Encoding.UTF8.GetBytes(key))] ??= key;
        }

        for (var loop = 0; loop < fixture.Shards; loop++)
        {
            using var other = new RespConnection(fixture.Server.Port, timeoutMs: 5000);
            foreach (var key in keys)
            {
                Assert.Equal("OK", other.Call("SET", key!, "v" + loop).Text);
                Assert.Equal("v" + loop, other.Call("GET", key!).Text);
            }
        }

        Assert.False(fixture.Server.HasExited);
    }
}
