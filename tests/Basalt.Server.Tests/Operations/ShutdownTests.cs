using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests.Operations;

/// <summary>SIGTERM and SHUTDOWN stop the server gracefully: readiness first, then drain, then exit 0.</summary>
public sealed class ShutdownTests
{
    [Fact]
    public async Task SIGTERM_mid_pipeline_answers_every_whole_command_then_closes_with_a_FIN_and_exits_0()
    {
        // The client writes nothing after the SIGTERM: bytes arriving after the server's close would
        // draw a reset from the kernel, whatever the server does. The pipeline ends with half a
        // command, which keeps the connection busy until shutdown-timeout; by then every whole
        // command, all of them in the server's socket buffer or already read, must be answered.
        using var server = ServerProcess.StartBasalt("--shards", "2", "--shutdown-timeout", "3");
        using var client = new TcpClient("127.0.0.1", server.Port);
        var stream = client.GetStream();
        const int Commands = 10_000;
        var batch = new List<byte>();
        for (var i = 0; i < Commands; i++)
        {
            batch.AddRange(RespConnection.Encode("SET", "key:" + i, "value-" + i));
        }

        var whole = batch.Count;
        batch.AddRange(RespConnection.Encode("SET", "key:last", "value-last"));
        await stream.WriteAsync(batch.ToArray().AsMemory(0, whole + 10));

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var received = new MemoryStream();
        var buffer = new byte[65536];
        var n = await stream.ReadAsync(buffer, deadline.Token);
        await received.WriteAsync(buffer.AsMemory(0, n));
        var exit = Task.Run(() => server.Terminate(TimeSpan.FromSeconds(30)));

        // To EOF: a reset is not caught, so it fails the test.
        while ((n = await stream.ReadAsync(buffer, deadline.Token)) > 0)
        {
            await received.WriteAsync(buffer.AsMemory(0, n));
        }

        var data = received.ToArray();
        var replies = 0;
        var offset = 0;
        while (offset < data.Length && RespValueReader.TryRead(data.AsSpan(offset), out var v, out var used))
        {
            Assert.Equal("OK", v!.Text);
            offset += used;
            replies++;
        }

        Assert.Equal(data.Length, offset); // nothing torn: the stream ends on a reply boundary
        Assert.Equal(Commands, replies);
        Assert.Equal(0, await exit);
        Assert.Contains("readiness is now 503", server.Log, StringComparison.Ordinal);
        Assert.Contains("still had work in flight", server.Log, StringComparison.Ordinal);
        Assert.Contains("ready to exit", server.Log, StringComparison.Ordinal);
    }

    [Fact]
    public async Task SIGTERM_with_a_pipeline_fully_sent_answers_all_of_it_before_closing()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var c = server.Connect();
        const int Commands = 5_000;
        var batch = new List<byte>();
        for (var i = 0; i < Commands; i++)
        {
            batch.AddRange(RespConnection.Encode("INCR", "{counter}" + (i % 7)));
        }

        c.SendRaw(batch.ToArray());
        Assert.Equal(1, c.Read().Integer);
        var exit = Task.Run(() => server.Terminate(TimeSpan.FromSeconds(30)));
        for (var i = 1; i < Commands; i++)
        {
            Assert.Equal((i / 7) + 1, c.Read().Integer);
        }

        Assert.True(c.IsClosedByServer());
        Assert.Equal(0, await exit);
    }

    [Fact]
    public async Task During_the_readiness_delay_readyz_is_503_and_new_connections_are_served_then_the_port_closes()
    {
        const int DelayMs = 3000;
        var s = await InProcessServer.StartAsync("--shutdown-readiness-delay", DelayMs.ToString(System.Globalization.CultureInfo.InvariantCulture));
        await using (s)
        {
            var port = s.Server.Port;
            var clock = Stopwatch.StartNew();
            var stop = s.Server.StopAsync();

            using (var r = await s.Http.GetAsync("/readyz"))
            {
                Assert.Equal(HttpStatusCode.ServiceUnavailable, r.StatusCode);
            }

            // Accepted and served after the stop began: the listener was still open.
            using (var late = new RespConnection(port))
            {
                Assert.Equal("PONG", late.Call("PING").Text);
            }

            await stop;
            // Task.Delay's timer ticks in milliseconds and may fire a hair before the Stopwatch's count.
            Assert.True(clock.ElapsedMilliseconds >= DelayMs - 50, $"stopped after {clock.ElapsedMilliseconds} ms");
            var refused = Assert.Throws<SocketException>(() => new RespConnection(port));
            Assert.Equal(SocketError.ConnectionRefused, refused.SocketErrorCode);
        }
    }

    [Theory]
    [InlineData("10")]
    [InlineData("2147483647")] // Redis's largest: longer than a .NET timer can wait, so the stop waits without one
    public void SHUTDOWN_exits_0_with_no_reply(string shutdownTimeout)
    {
        using var server = ServerProcess.StartBasalt("--shutdown-timeout", shutdownTimeout);
        using var c = server.Connect();
        c.SendRaw(RespConnection.Encode("SHUTDOWN", "NOSAVE"));
        Assert.True(c.IsClosedWithoutReply(30_000));
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, server.ExitCode);
    }

    [Fact]
    public void SHUTDOWN_SAVE_is_refused_while_there_is_nothing_to_save_it_with_unless_forced()
    {
        // No snapshots yet: an explicit SAVE is a save that fails, which Redis answers by refusing to stop. Stopping
        // anyway answered a request to keep the data by losing it.
        using var server = ServerProcess.StartBasalt();
        using var c = server.Connect();
        Assert.Equal("OK", c.Call("SET", "kept", "1").Text);
        Assert.Equal("ERR Errors trying to SHUTDOWN. Check logs.", c.Call("SHUTDOWN", "SAVE").Text);
        Assert.Equal("ERR Errors trying to SHUTDOWN. Check logs.", c.Call("SHUTDOWN", "SAVE", "NOW").Text);
        Assert.Equal("1", c.Call("GET", "kept").Text);
        Assert.True(server.WaitForLog("SHUTDOWN SAVE: there are no snapshots to save yet", TimeSpan.FromSeconds(10)), server.Log);

        // FORCE stops whatever failed, as in Redis.
        c.SendRaw(RespConnection.Encode("SHUTDOWN", "SAVE", "FORCE"));
        Assert.True(c.IsClosedWithoutReply(30_000));
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.Equal(0, server.ExitCode);
    }

    [Fact]
    public void With_no_admin_port_SHUTDOWN_closes_the_port_at_once_as_redis_does()
    {
        // The readiness delay keeps serving so that a load balancer watching /readyz sees the 503; without an admin
        // port there is no /readyz, and a stop that went on serving for the delay accepted writes nobody asked it to.
        using var server = ServerProcess.StartBasalt("--shutdown-readiness-delay", "20000");
        using var c = server.Connect();
        var stopping = System.Diagnostics.Stopwatch.StartNew();
        c.SendRaw(RespConnection.Encode("SHUTDOWN"));
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)));
        Assert.True(stopping.Elapsed < TimeSpan.FromSeconds(10), $"the stop took {stopping.Elapsed}");
        Assert.Equal(0, server.ExitCode);
    }

    [Fact]
    public void SIGTERM_while_the_server_starts_stops_it_cleanly_once_started()
    {
        // The handlers were installed only after the start, so a SIGTERM during it killed the process by the signal.
        using var server = ServerProcess.StartBasalt(new BasaltStart("--shards", "2")
        {
            Environment = new Dictionary<string, string> { ["BASALT_TEST_HOLD_LISTENER"] = "1" },
            Stdin = true,
            ReadyLine = "holding the listener",
        });
        Signals.Terminate(server.Pid);

        Assert.True(server.WaitForLog("Received SIGTERM", TimeSpan.FromSeconds(10)), server.Log);
        server.WriteLine("go"); // lets the start finish
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(30)), "the server did not exit");
        Assert.Equal(0, server.ExitCode);
        Assert.Contains("ready to exit", server.Log, StringComparison.Ordinal);
    }
}
