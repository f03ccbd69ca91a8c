using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>Bounded resources, each on its own server with a small limit.</summary>
public sealed class LimitsTests
{
    [Fact]
    public void Maxclients_is_fitted_to_the_open_files_limit_and_the_next_client_is_refused_cleanly()
    {
        // 10,000 clients cannot fit in 400 descriptors: as Redis does, maxclients is lowered with a warning, so the
        // client past it gets the maxclients error instead of waiting on an accept() that fails with EMFILE.
        using var server = ServerProcess.StartBasalt(new BasaltStart("--shards", "2") { OpenFilesLimit = 400 });
        Assert.Contains("You requested maxclients of 10000 requiring at least", server.Log, StringComparison.Ordinal);
        Assert.Contains("Current maximum open files is 400. maxclients has been reduced to", server.Log, StringComparison.Ordinal);

        var clients = new List<RespConnection> { server.Connect() };
        try
        {
            var max = int.Parse(clients[0].Call("CONFIG", "GET", "maxclients").Items![1].Text!, System.Globalization.CultureInfo.InvariantCulture);
            Assert.InRange(max, 1, 399);
            while (clients.Count < max)
            {
                var c = new RespConnection(server.Port, timeoutMs: 10_000);
                clients.Add(c);
                Assert.Equal("PONG", c.Call("PING").Text);
            }

            using (var over = new RespConnection(server.Port, timeoutMs: 10_000))
            {
                Assert.Equal("ERR max number of clients reached", over.Read().Text);
            }

            // maxclients cannot be raised past what the descriptors hold, and the clients in are still served.
            Assert.Equal(RespType.Error, clients[0].Call("CONFIG", "SET", "maxclients", (max + 1).ToString(System.Globalization.CultureInfo.InvariantCulture)).Type);
            Assert.Equal("PONG", clients[^1].Call("PING").Text);
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public void Out_of_descriptors_at_accept_the_next_client_is_refused_cleanly_without_a_spin_until_some_are_freed()
    {
        // 150 descriptors taken after maxclients was fitted, as a leak elsewhere would: accept() fails with EMFILE
        // before maxclients is reached. Each client past that point must get the maxclients error (not wait in
        // the backlog), the accept thread must not spin on the failure, and freed descriptors serve clients again.
        using var server = ServerProcess.StartBasalt(new BasaltStart("--shards", "2")
        {
            OpenFilesLimit = 400,
            Environment = new Dictionary<string, string> { ["BASALT_TEST_HOLD_DESCRIPTORS"] = "150" },
        });
        var clients = new List<RespConnection>();
        try
        {
            clients.Add(new RespConnection(server.Port, timeoutMs: 10_000));
            var max = int.Parse(clients[0].Call("CONFIG", "GET", "maxclients").Items![1].Text!, System.Globalization.CultureInfo.InvariantCulture);
            RespValue? refused = null;
            while (refused is null && clients.Count < max)
            {
                var c = new RespConnection(server.Port, timeoutMs: 10_000);
                var reply = c.Call("PING");
                if (reply.Text == "PONG")
                {
                    clients.Add(c);
                }
                else
                {
                    refused = reply;
                    c.Dispose();
                }
            }

            Assert.NotNull(refused);
            Assert.Equal("ERR max number of clients reached", refused.Text);
            Assert.True(clients.Count < max, $"{clients.Count} clients, maxclients {max}");
            for (var i = 0; i < 20; i++)
            {
                using var again = new RespConnection(server.Port, timeoutMs: 10_000);
                Assert.Equal("ERR max number of clients reached", again.Read().Text);
            }

            // Idle and still out of descriptors: a retrying accept thread would burn a core here.
            var before = server.CpuTicks();
            Thread.Sleep(1000);
            var used = server.CpuTicks() - before;
            Assert.True(used < 50, $"{used} CPU ticks (of 100 a second) while idle and out of descriptors");

            for (var i = 0; i < 3; i++)
            {
                clients[^1].Dispose();
                clients.RemoveAt(clients.Count - 1);
            }

            // The closes are processed by the loops; until they are, a new client may still be refused.
            var deadline = DateTime.UtcNow.AddSeconds(10);
            string? answer = null;
            while (answer != "PONG" && DateTime.UtcNow < deadline)
            {
                using var c = new RespConnection(server.Port, timeoutMs: 10_000);
                answer = c.Call("PING").Text;
            }

            Assert.Equal("PONG", answer);
            // Warned once per episode, not once per refusal: 21 refusals so far. (A descriptor freed for a moment
            // at the edge, by the runtime or a closing socket, can end an episode early and start another.)
            Assert.True(server.WaitForLog("Out of file descriptors", TimeSpan.FromSeconds(10)), server.Log);
            var warnings = System.Text.RegularExpressions.Regex.Matches(server.Log, "Out of file descriptors").Count;
            Assert.InRange(warnings, 1, 5);
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public void An_open_files_limit_too_low_to_start_under_stops_startup_with_one_line()
    {
        var ex = Assert.ThrowsAny<Exception>(() => ServerProcess.StartBasalt(new BasaltStart("--shards", "2") { OpenFilesLimit = 150 }));
        Assert.Contains("*** FATAL *** Your current 'ulimit -n' of 150 is not enough for the server to start. Please increase your open file limit to at least", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Log_output_that_nobody_reads_never_stalls_the_loops()
    {
        // stdout and stderr are pipes this test never reads: once the pipe (64 KB) and the logger's queue are
        // full, a log call must drop its line rather than block the shard loop that made it.
        var port = ServerProcess.FreePort();
        var dir = Path.Combine(Path.GetTempPath(), "basalt-test-" + Guid.NewGuid().ToString("N"));
        var psi = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { RepoPaths.ServerDll, "--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--admin-port", "0", "--dir", dir, "--shards", "2", "--loglevel", "debug" })
        {
            psi.ArgumentList.Add(a);
        }

        using var process = System.Diagnostics.Process.Start(psi)!;
        try
        {
            using (var first = ConnectWithin(port, TimeSpan.FromSeconds(30)))
            {
                Assert.Equal("PONG", first.Call("PING").Text);
            }

            // Each close logs a debug line: 20,000 of them are far more than the pipe and the queue hold.
            for (var i = 0; i < 20_000; i++)
            {
                using var s = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.InterNetwork, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Tcp);
                s.Connect(System.Net.IPAddress.Loopback, port);
            }

            // The loops went on serving: they closed every one of those connections (no "max number of
            // clients reached") and answer at once.
            using var c = new RespConnection(port, timeoutMs: 10_000);
            Assert.Equal("PONG", c.Call("PING").Text);
            var deadline = DateTime.UtcNow.AddSeconds(20);
            string clients;
            while (!(clients = c.Call("INFO", "clients").Text!).Contains("connected_clients:1\r\n", StringComparison.Ordinal) && DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }

            Assert.Contains("connected_clients:1\r\n", clients, StringComparison.Ordinal);
        }
        finally
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit(10_000);
            if (Directory.Exists(dir))
            {
                Directory.Delete(dir, recursive: true);
            }
        }
    }

    private static RespConnection ConnectWithin(int port, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            try
            {
                return new RespConnection(port, timeoutMs: 10_000);
            }
            catch (System.Net.Sockets.SocketException) when (DateTime.UtcNow < deadline)
            {
                Thread.Sleep(50);
            }
        }
    }

    [Fact]
    public void Client_over_its_output_limit_is_disconnected()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "1mb", "0", "0");
        using var c = server.Connect();
        AssertLargeReplyClosesOnlyThisClient(server, c, 2 * 1024 * 1024);
    }

    /// <summary>A GET of a <paramref name="size"/>-byte value closes <paramref name="c"/>; a new client is still served.</summary>
    private static void AssertLargeReplyClosesOnlyThisClient(ServerProcess server, RespConnection c, int size)
    {
        Assert.Equal("OK", c.Call("SET", "big", new string('x', size)).Text);
        c.SendRaw(RespConnection.Encode("GET", "big"));
        Assert.True(c.IsClosedByServer());
        using var other = server.Connect();
        Assert.Equal("PONG", other.Call("PING").Text);
    }

    [Fact]
    public void A_client_that_always_has_replies_waiting_gets_every_one_past_2_GB_of_output()
    {
        // The client reads all the time but keeps 200 GETs of 1 MB in flight, so its backlog (~200 MB, under the 256 MB
        // limit) never drains. The buffer was reset only when empty, so it grew with everything ever sent, and past 2 GB
        // every reply was an internal error.
        using var server = ServerProcess.StartBasalt("--shards", "1");
        using var c = server.Connect();
        const int Size = 1024 * 1024, Total = 2300, InFlight = 200;
        Assert.Equal("OK", c.Call("SET", "v", new string('x', Size)).Text);
        var get = RespConnection.Encode("GET", "v");
        var replyBytes = (long)Size + $"${Size}\r\n\r\n".Length;
        var buffer = new byte[1 << 20];
        long received = 0;
        var sent = 0;
        while (received < Total * replyBytes)
        {
            var done = (int)(received / replyBytes);
            while (sent < Total && sent - done < InFlight)
            {
                c.Socket.Send(get);
                sent++;
            }

            // A reader slower than the server: the backlog stays near its 200 replies.
            Thread.Sleep(2);
            var n = c.Socket.Receive(buffer);
            Assert.True(n > 0, "the server closed the connection");
            Assert.NotEqual((byte)'-', buffer[0]);
            received += n;
        }

        Assert.Equal(Total * replyBytes, received);
        Assert.DoesNotContain("fail:", server.Log, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("1")]
    [InlineData("2")]
    public void With_no_output_limit_a_client_that_never_reads_is_still_cut_off_before_one_buffer_overflows(string shards)
    {
        // "normal 0 0 0" (Redis's default) sets no limit, and requests are read whether or not replies are. Replies of a
        // client that never reads then grew until the buffer could not (2 GB), and every command after that answered an
        // internal error. It is cut off at 512 MB instead, and the others are served.
        using var server = ServerProcess.StartBasalt("--shards", shards, "--client-output-buffer-limit", "normal", "0", "0", "0");
        using var c = server.Connect();
        var value = new string('x', 32 * 1024 * 1024);
        Assert.Equal("OK", c.Call("SET", "big:{a}", value).Text);
        Assert.Equal("OK", c.Call("SET", "big:{b}", value).Text);
        var gets = new List<byte>();
        for (var i = 0; i < 40; i++)
        {
            gets.AddRange(RespConnection.Encode("GET", i % 2 == 0 ? "big:{a}" : "big:{b}"));
        }

        c.Socket.ReceiveBufferSize = 4096;
        c.SendRaw(gets.ToArray());
        // Replies made on its own loop hit the 512 MB bound; a pipeline group's replies on another shard hit it there.
        Assert.True(server.WaitForLog("Closing client", TimeSpan.FromSeconds(60)), server.Log);
        Assert.DoesNotContain("fail:", server.Log, StringComparison.Ordinal);
        using var other = server.Connect();
        Assert.Equal("PONG", other.Call("PING").Text);
    }

    [Fact]
    public void A_tiny_hard_limit_still_lets_small_replies_through_as_in_redis()
    {
        // Redis counts only what spills past its 16 KB reply buffer, so "normal 1 0 0" closes a client on its first large
        // reply, not on its first PONG.
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "1", "0", "0");
        using var c = server.Connect();
        Assert.Equal("PONG", c.Call("PING").Text);
        Assert.Equal("OK", c.Call("SET", "k", new string('x', 10_000)).Text);
        Assert.Equal(10_000, c.Call("GET", "k").Text!.Length);
        AssertLargeReplyClosesOnlyThisClient(server, c, 100_000);
    }

    [Fact]
    public void A_client_over_its_soft_limit_for_longer_than_its_seconds_is_disconnected_even_with_no_new_reply()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "0", "256kb", "1");
        using var c = server.Connect();
        using var watcher = server.Connect();
        Assert.Equal("OK", c.Call("SET", "big", new string('x', 8 * 1024 * 1024)).Text);
        var id = c.Call("CLIENT", "ID").Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);

        // The reply outgrows what the sockets hold, and the client reads nothing: the server stops reading it
        // (backpressure), so only the loop's own timer can notice that it stayed over the soft limit. The client is
        // watched from another connection, so nothing reads its output until the server has let it go.
        c.SendRaw(RespConnection.Encode("GET", "big"));
        var sent = DateTime.UtcNow;
        while (watcher.Call("CLIENT", "LIST", "ID", id).Text!.Length > 0)
        {
            Assert.True(DateTime.UtcNow < sent.AddSeconds(15), "the client over its soft limit was never closed");
            Thread.Sleep(50);
        }

        Assert.True(DateTime.UtcNow - sent >= TimeSpan.FromSeconds(0.9), "closed before its soft-limit seconds passed");
        Assert.True(c.IsClosedByServer(2000));
    }

    [Fact]
    public void A_client_that_keeps_reading_large_replies_stays_under_its_soft_limit()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "0", "256kb", "1");
        using var c = server.Connect();
        Assert.Equal("OK", c.Call("SET", "big", new string('x', 1024 * 1024)).Text);

        // Each reply passes the soft limit when it is queued, but the buffer drains in between: that resets the clock.
        var until = DateTime.UtcNow.AddSeconds(3);
        var replies = 0;
        while (DateTime.UtcNow < until)
        {
            Assert.Equal(1024 * 1024, c.Call("GET", "big").Text!.Length);
            replies++;
        }

        Assert.True(replies > 3, $"only {replies} replies in 3 s");
        Assert.Equal("PONG", c.Call("PING").Text);
    }

    [Fact]
    public void A_pipeline_whose_replies_from_other_shards_pass_the_limit_is_disconnected()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--client-output-buffer-limit", "normal", "1mb", "0", "0");
        var slots = new Basalt.Engine.SlotMap(2);
        var other = Enumerable.Range(0, 100).Select(i => $"big:{i}")
            .First(k => slots.ShardOf(System.Text.Encoding.ASCII.GetBytes(k)) != slots.ShardOf("big:a"u8));
        using var c = server.Connect();
        c.Call("SET", "big:a", new string('a', 300_000));
        c.Call("SET", other, new string('b', 300_000));

        // Whichever loop owns the connection, one of the two keys is on the other shard.
        var ms = new MemoryStream();
        for (var i = 0; i < 20; i++)
        {
            ms.Write(RespConnection.Encode("GET", other));
            ms.Write(RespConnection.Encode("GET", "big:a"));
        }

        c.SendRaw(ms.ToArray());
        Assert.True(c.IsClosedByServer(10_000));
        using var next = server.Connect();
        Assert.Equal("PONG", next.Call("PING").Text);
    }

    [Fact]
    public void Maxclients_is_enforced_with_redis_error()
    {
        using var server = ServerProcess.StartBasalt("--shards", "1", "--maxclients", "2");
        using var a = server.Connect();
        using var b = server.Connect();
        Assert.Equal("PONG", a.Call("PING").Text);
        Assert.Equal("PONG", b.Call("PING").Text);
        using var c = server.Connect();
        var reply = c.Read();
        Assert.Equal("ERR max number of clients reached", reply.Text);
        a.Dispose();

        // The close is processed by a's loop; wait until the server counts one client (b) before taking the slot.
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!b.Call("INFO", "clients").Text!.Contains("connected_clients:1\r\n", StringComparison.Ordinal))
        {
            Assert.True(DateTime.UtcNow < deadline, "a's close was never processed");
            Thread.Sleep(10);
        }

        using var d = server.Connect();
        Assert.Equal("PONG", d.Call("PING").Text);
    }

    [Fact]
    public void Config_set_is_all_or_nothing_and_maxclients_cannot_pass_its_startup_value()
    {
        using var server = ServerProcess.StartBasalt("--shards", "1", "--maxclients", "50");
        using var c = server.Connect();
        Assert.Equal("OK", c.Call("CONFIG", "SET", "maxclients", "40").Text);
        var refused = c.Call("CONFIG", "SET", "maxclients", "60");
        Assert.Equal(RespType.Error, refused.Type);
        Assert.StartsWith("ERR CONFIG SET failed (possibly related to argument 'maxclients')", refused.Text, StringComparison.Ordinal);
        Assert.Equal(RespType.Error, c.Call("CONFIG", "SET", "hz", "20", "maxclients", "abc").Type);
        Assert.Equal("10", c.Call("CONFIG", "GET", "hz").Items![1].Text);
        Assert.Equal("40", c.Call("CONFIG", "GET", "maxclients").Items![1].Text);
        Assert.Equal(RespType.Error, c.Call("CONFIG", "SET", "port", "1234").Type);
        Assert.Equal(RespType.Error, c.Call("CONFIG", "SET", "nosuch", "1").Type);
    }

    [Fact]
    public void Proto_max_bulk_len_is_enforced()
    {
        using var server = ServerProcess.StartBasalt("--shards", "1", "--proto-max-bulk-len", "1mb");
        using var c = server.Connect();
        c.SendRaw("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$2000000\r\n"u8);
        Assert.Equal("ERR Protocol error: invalid bulk length", c.Read().Text);
        Assert.True(c.IsClosedByServer());
    }

    [Fact]
    public void Requirepass_gates_commands_until_auth()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--requirepass", "s3cret");
        using var c = server.Connect();
        Assert.Equal("NOAUTH Authentication required.", c.Call("GET", "k").Text);
        Assert.Equal("ERR unknown command 'NOPE', with args beginning with: ", c.Call("NOPE").Text);
        Assert.Equal("WRONGPASS invalid username-password pair or user is disabled.", c.Call("AUTH", "bad").Text);
        Assert.Equal("OK", c.Call("AUTH", "s3cret").Text);
        Assert.Equal(RespType.BulkString, c.Call("GET", "k").Type);
        Assert.Equal("RESET", c.Call("RESET").Text);
        Assert.Equal("NOAUTH Authentication required.", c.Call("PING").Text);
        Assert.Equal(RespType.Map, c.Call("HELLO", "3", "AUTH", "default", "s3cret").Type);
    }

    [Fact]
    public void Active_expiry_removes_keys_nobody_reads()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var c = server.Connect();
        for (var i = 0; i < 200; i++)
        {
            c.Call("SET", $"e:{i}", "v", "PX", "100");
        }

        c.Call("SET", "keep", "v");
        var deadline = DateTime.UtcNow.AddSeconds(10);
        long size;
        do
        {
            Thread.Sleep(100);
            size = c.Call("DBSIZE").Integer;
        }
        while (size > 1 && DateTime.UtcNow < deadline);

        Assert.Equal(1, size);
        Assert.Contains("expired_keys:200", c.Call("INFO", "stats").Text, StringComparison.Ordinal);
    }

    [Fact]
    public void Shutdown_command_stops_the_process_cleanly()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2");
        using var c = server.Connect();
        c.SendRaw(RespConnection.Encode("SHUTDOWN", "NOSAVE"));
        Assert.True(c.IsClosedByServer());
        Assert.True(server.WaitForExit(TimeSpan.FromSeconds(10)));
    }
}
