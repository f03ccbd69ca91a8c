using System.Net.Sockets;
using System.Text;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// A connection that closes after its last reply (QUIT, a protocol error) must not close with input unread: the kernel
/// then sends RST, and the client loses replies it has not read yet. It shuts its side, drops what the client still
/// sends, and closes once the client does, or when close-linger passes.
/// </summary>
[Collection("basalt")]
public sealed class LingeringCloseTests(BasaltFixture fixture)
{
    private const int Gets = 200;
    private const int ValueBytes = 20_000;

    [Theory]
    [InlineData("quit")]
    [InlineData("protocol error")]
    public void A_client_still_sending_after_its_last_request_gets_every_reply_and_a_clean_close(string ending)
    {
        // As the helper's repro: 4 MB of replies, the closing request, then 14 MB of PINGs, all in one write that the
        // client makes before it reads anything. Redis returns every reply; a close with the PINGs unread sent RST
        // after 128 KB of them.
        using var c = fixture.Connect();
        var key = "linger:" + ending.Replace(' ', '-');
        Assert.Equal("OK", c.Call("SET", key, new string('v', ValueBytes)).Text);
        var payload = new MemoryStream();
        var get = RespConnection.Encode("GET", key);
        for (var i = 0; i < Gets; i++)
        {
            payload.Write(get);
        }

        payload.Write(ending == "quit" ? RespConnection.Encode("QUIT") : "*1\r\nfoo\r\n"u8.ToArray());
        var ping = RespConnection.Encode("PING");
        for (var i = 0; i < 1_000_000; i++)
        {
            payload.Write(ping);
        }

        c.Socket.SendTimeout = 20_000;
        c.SendRaw(payload.ToArray());
        c.Socket.ReceiveTimeout = 20_000;
        for (var i = 0; i < Gets; i++)
        {
            Assert.Equal(ValueBytes, c.Read().Text!.Length);
        }

        var last = c.Read();
        if (ending == "quit")
        {
            Assert.Equal("OK", last.Text);
        }
        else
        {
            Assert.Equal(RespType.Error, last.Type);
            Assert.Equal("ERR Protocol error: expected '$', got 'f'", last.Text);
        }

        AssertEndOfStream(c.Socket);
        Assert.Equal("PONG", fixture.Connect().Call("PING").Text);
    }

    [Fact]
    public void A_client_that_shuts_its_side_after_QUIT_still_gets_every_reply()
    {
        // The client's end of stream is read while replies are still waiting to go: they are sent before the close.
        using var c = fixture.Connect();
        Assert.Equal("OK", c.Call("SET", "linger:halfclosed", new string('h', ValueBytes)).Text);
        c.Socket.ReceiveBufferSize = 16 * 1024;
        var payload = new MemoryStream();
        for (var i = 0; i < Gets; i++)
        {
            payload.Write(RespConnection.Encode("GET", "linger:halfclosed"));
        }

        payload.Write(RespConnection.Encode("QUIT"));
        c.SendRaw(payload.ToArray());
        c.Socket.Shutdown(SocketShutdown.Send);
        c.Socket.ReceiveTimeout = 20_000;
        for (var i = 0; i < Gets; i++)
        {
            Assert.Equal(ValueBytes, c.Read().Text!.Length);
        }

        Assert.Equal("OK", c.Read().Text);
        AssertEndOfStream(c.Socket);
    }

    [Fact]
    public async Task A_client_that_keeps_its_side_open_after_QUIT_is_no_client_and_is_closed_when_close_linger_passes()
    {
        await using var server = await Operations.InProcessServer.StartAsync("--shards", "1", "--close-linger", "1500");
        using var observer = server.Connect();
        using var c = server.Connect();
        var id = c.Call("CLIENT", "ID").Integer;
        Assert.Equal("OK", c.Call("QUIT").Text);

        // The server's side is shut at once, so the client reads the end of stream. From then on the connection is no
        // client, as Redis frees one once its last reply is written: only its socket waits for the client's close.
        AssertEndOfStream(c.Socket);
        Assert.DoesNotContain($"id={id} ", observer.Call("CLIENT", "LIST").Text, StringComparison.Ordinal);
        Assert.Contains("connected_clients:1\r\n", observer.Call("INFO", "clients").Text, StringComparison.Ordinal);
        Assert.Equal(1, (await server.ScrapeAsync())["basalt_clients_lingering"].Value());

        // What the client still sends is read and dropped, not answered with a reset.
        c.SendRaw(RespConnection.Encode("PING"));
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while ((await server.ScrapeAsync())["basalt_clients_lingering"].Value() != 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "the lingering connection was never closed");
            await Task.Delay(50);
        }

        // The socket is closed now: a write reaches no one, the kernel answers it with a reset, and the next write fails.
        var failed = Assert.ThrowsAny<IOException>(() =>
        {
            for (var i = 0; i < 50; i++)
            {
                c.SendRaw(RespConnection.Encode("PING"));
                Thread.Sleep(20);
            }
        });
        Assert.IsType<SocketException>(failed.InnerException);

        // With close-linger 0 the connection closes as soon as its last reply is sent.
        Assert.Equal("OK", observer.Call("CONFIG", "SET", "close-linger", "0").Text);
        using var quick = server.Connect();
        Assert.Equal("OK", quick.Call("QUIT").Text);
        AssertEndOfStream(quick.Socket);
        Assert.Equal(0, (await server.ScrapeAsync())["basalt_clients_lingering"].Value());
    }

    [Fact]
    public void A_lingering_connection_gives_its_maxclients_slot_back()
    {
        // Two slots: the observer and a client that QUITs and keeps its socket open. A new client is served at once,
        // as by Redis, which frees the quitting client; it would be refused until close-linger passed (a minute).
        using var server = ServerProcess.StartBasalt("--shards", "1", "--maxclients", "2", "--close-linger", "60000");
        using var observer = server.Connect();
        using var quitting = server.Connect();
        Assert.Equal("OK", quitting.Call("QUIT").Text);
        AssertEndOfStream(quitting.Socket);

        using var next = server.Connect();
        Assert.Equal("PONG", next.Call("PING").Text);
        using var oneTooMany = server.Connect();
        Assert.Equal("ERR max number of clients reached", oneTooMany.Read().Text);
    }

    [Theory]
    [InlineData("5000")]
    [InlineData("0")]
    public void A_client_that_reconnects_as_soon_as_QUIT_is_answered_finds_its_slot_free(string closeLinger)
    {
        // maxclients 1: each client QUITs and the next connects the moment the +OK arrives, as Redis allows (it frees
        // the client before it reads another event). The slot was given up only after the reply had gone, so now and
        // then the next client was refused.
        using var server = ServerProcess.StartBasalt("--shards", "1", "--maxclients", "1", "--close-linger", closeLinger);
        for (var i = 0; i < 1000; i++)
        {
            using var c = new RespConnection(server.Port, timeoutMs: 10_000);
            var reply = c.Call("PING");
            Assert.True(reply.Text == "PONG", $"client {i}: {reply.Text}");
            Assert.Equal("OK", c.Call("QUIT").Text);
        }
    }

    [Fact]
    public void A_client_that_QUITs_behind_a_big_unread_reply_still_counts_against_maxclients()
    {
        // It stopped counting before its last replies went, however much was left: clients that each asked for a big
        // value, sent QUIT and read nothing all held their output outside maxclients (30 of them at maxclients 10,
        // 2.2 GB). As in Redis, a connection is a client until its replies are out, but for the last few kilobytes.
        using var server = ServerProcess.StartBasalt("--shards", "1", "--maxclients", "3");
        using var observer = server.Connect();
        Assert.Equal("OK", observer.Call("SET", "big", new string('b', 8 * 1024 * 1024)).Text);
        var readers = new List<RespConnection>();
        try
        {
            for (var i = 0; i < 2; i++)
            {
                var c = server.Connect();
                readers.Add(c);
                c.Socket.ReceiveBufferSize = 16 * 1024;
                c.SendRaw([.. RespConnection.Encode("GET", "big"), .. RespConnection.Encode("QUIT")]);
            }

            var deadline = DateTime.UtcNow.AddSeconds(10);
            while (!observer.Call("INFO", "clients").Text!.Contains("connected_clients:3\r\n", StringComparison.Ordinal))
            {
                Assert.True(DateTime.UtcNow < deadline, observer.Call("INFO", "clients").Text);
                Thread.Sleep(50);
            }

            // Both still hold most of 8 MB unsent: the next client is one too many.
            Thread.Sleep(200);
            Assert.Contains("connected_clients:3\r\n", observer.Call("INFO", "clients").Text, StringComparison.Ordinal);
            using var over = server.Connect();
            Assert.Equal("ERR max number of clients reached", over.Read().Text);
        }
        finally
        {
            foreach (var c in readers)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public void With_no_descriptors_to_spare_a_closing_connection_closes_at_once()
    {
        // 400 descriptors: maxclients is fitted to them, so none is left over. A lingering socket would hold one that a
        // client may need; the connection closes as soon as its last reply is sent, and a write after that is reset.
        using var server = ServerProcess.StartBasalt(new BasaltStart("--shards", "1", "--close-linger", "60000") { OpenFilesLimit = 400 });
        using var c = server.Connect();
        Assert.Equal("OK", c.Call("QUIT").Text);
        AssertEndOfStream(c.Socket);
        var failed = Assert.ThrowsAny<IOException>(() =>
        {
            for (var i = 0; i < 100; i++)
            {
                c.SendRaw(RespConnection.Encode("PING"));
                Thread.Sleep(20);
            }
        });
        Assert.IsType<SocketException>(failed.InnerException);
        Assert.Equal("PONG", server.Connect().Call("PING").Text);
    }

    [Fact]
    public void A_lingering_connection_does_not_hold_up_a_graceful_shutdown()
    {
        // A client that QUIT and keeps its socket open has nothing left to be answered: SHUTDOWN closes it at once
        // rather than waiting for close-linger (a minute here) or shutdown-timeout (10 s).
        using var server = ServerProcess.StartBasalt("--shards", "1", "--close-linger", "60000");
        using var c = server.Connect();
        Assert.Equal("OK", c.Call("QUIT").Text);
        AssertEndOfStream(c.Socket);

        using var admin = server.Connect();
        var started = System.Diagnostics.Stopwatch.StartNew();
        admin.SendRaw(RespConnection.Encode("SHUTDOWN", "NOSAVE"));
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)), "the server did not stop");
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(5), $"the stop took {started.Elapsed}: it waited on the lingering connection");
    }

    /// <summary>The server's side ended with a FIN: a read returns 0, not a connection reset, with nothing before it.</summary>
    private static void AssertEndOfStream(Socket socket)
    {
        socket.ReceiveTimeout = 10_000;
        var rest = new byte[64 * 1024];
        int n;
        try
        {
            n = socket.Receive(rest);
        }
        catch (SocketException ex)
        {
            Assert.Fail($"the connection ended with {ex.SocketErrorCode}, not a clean close");
            return;
        }

        Assert.True(n == 0, $"{n} more bytes came after the last reply: {Encoding.ASCII.GetString(rest, 0, Math.Min(n, 64))}");
    }
}
