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

        // Write until the server stops reading us (backpressure) or 20 MB of requests went out.
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
            // The send timed out: the server stopped reading, as it should.
        }

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
