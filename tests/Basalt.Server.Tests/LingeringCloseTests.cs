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
    public void A_client_that_keeps_its_side_open_after_QUIT_is_closed_when_close_linger_passes()
    {
        using var server = ServerProcess.StartBasalt("--shards", "1", "--close-linger", "1500", "--loglevel", "debug");
        using var observer = server.Connect();
        using var c = server.Connect();
        var id = c.Call("CLIENT", "ID").Integer;
        Assert.Equal("OK", c.Call("QUIT").Text);

        // The server's side is shut at once, so the client reads the end of stream; the connection stays until the
        // client closes or close-linger passes.
        AssertEndOfStream(c.Socket);
        Assert.Contains($"id={id} ", observer.Call("CLIENT", "LIST").Text, StringComparison.Ordinal);
        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (observer.Call("CLIENT", "LIST").Text!.Contains($"id={id} ", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "the lingering connection was never closed");
            Thread.Sleep(50);
        }

        Assert.True(server.WaitForLog("close-linger passed", TimeSpan.FromSeconds(10)), server.Log);

        // With close-linger 0 the connection closes as soon as its last reply is sent.
        Assert.Equal("OK", observer.Call("CONFIG", "SET", "close-linger", "0").Text);
        using var quick = server.Connect();
        var quickId = quick.Call("CLIENT", "ID").Integer;
        Assert.Equal("OK", quick.Call("QUIT").Text);
        AssertEndOfStream(quick.Socket);
        Assert.DoesNotContain($"id={quickId} ", observer.Call("CLIENT", "LIST").Text, StringComparison.Ordinal);
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
