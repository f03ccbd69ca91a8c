using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// Redis's connection policies: protected mode, the idle client timeout and TCP keepalive. Each scenario runs against
/// a Basalt and a redis-server 7.0 started for it with the same settings, and both must come out the same way.
/// </summary>
public sealed class ConnectionPolicyTests
{
    public static TheoryData<string> Servers() => ["basalt", "redis"];

    [Fact]
    public void Protected_mode_denies_a_client_not_on_127_0_0_1_with_the_redis_text()
    {
        using var basalt = ServerProcess.StartBasalt("--shards", "2");
        using var redis = ServerProcess.StartRedis();

        // 127.0.0.2 is loopback too, but Redis 7.0 serves only 127.0.0.1 and ::1 in protected mode.
        var fromBasalt = ExchangeFrom("127.0.0.2", basalt.Port, "PING\r\n");
        var fromRedis = ExchangeFrom("127.0.0.2", redis.Port, "PING\r\n");
        Assert.StartsWith("-DENIED Redis is running in protected mode because protected mode is enabled", fromRedis, StringComparison.Ordinal);
        Assert.EndsWith(Closed, fromRedis, StringComparison.Ordinal);
        Assert.Equal(fromRedis, fromBasalt);

        foreach (var server in new[] { basalt, redis })
        {
            using var local = server.Connect();
            Assert.Equal("PONG", local.Call("PING").Text);
            Assert.Contains("rejected_connections:1\r\n", local.Call("INFO", "stats").Text, StringComparison.Ordinal);
        }
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Protected_mode_serves_every_client_once_it_is_off_or_a_password_is_set(string which)
    {
        using var server = Start(which);
        using var admin = server.Connect();

        Assert.Equal("OK", admin.Call("CONFIG", "SET", "protected-mode", "no").Text);
        Assert.Equal("+PONG\r\n" + Open, ExchangeFrom("127.0.0.2", server.Port, "PING\r\n"));

        // On again, with a password: the client is let in, and then must authenticate like any other.
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "protected-mode", "yes", "requirepass", "pw").Text);
        Assert.Equal("-NOAUTH Authentication required.\r\n" + Open, ExchangeFrom("127.0.0.2", server.Port, "PING\r\n"));
        Assert.Equal("+OK\r\n+PONG\r\n" + Open, ExchangeFrom("127.0.0.2", server.Port, "AUTH pw\r\nPING\r\n"));
    }

    [Fact]
    public void Debug_local_serves_127_0_0_1_only_as_redis_does()
    {
        using var basalt = ServerProcess.StartBasalt("--shards", "2", "--enable-debug-command", "local", "--protected-mode", "no");
        using var redis = ServerProcess.StartRedis("--enable-debug-command", "local", "--protected-mode", "no");
        foreach (var source in new[] { "127.0.0.1", "127.0.0.2" })
        {
            var expected = ExchangeFrom(source, redis.Port, "DEBUG SLEEP 0\r\n");
            Assert.Equal(expected, ExchangeFrom(source, basalt.Port, "DEBUG SLEEP 0\r\n"));
            Assert.Equal(source == "127.0.0.1", expected == "+OK\r\n" + Open);
        }
    }

    [Fact]
    public void A_client_that_must_still_authenticate_may_send_only_small_requests()
    {
        using var basalt = ServerProcess.StartBasalt("--shards", "2", "--requirepass", "pw");
        using var redis = ServerProcess.StartRedis("--requirepass", "pw");
        string[] inputs =
        [
            "*11\r\n",
            "*10\r\n$4\r\nPING\r\n",
            "*2\r\n$4\r\nECHO\r\n$16385\r\n",
            "*2\r\n$4\r\nECHO\r\n$16384\r\n",
            "*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n$4\r\nPING\r\n",
            "AUTH pw\r\n*2\r\n$4\r\nECHO\r\n$16385\r\n",
        ];
        // Two of the inputs are requests still waiting for their bytes, answered by nothing: 2 s is the wait for those.
        foreach (var input in inputs)
        {
            var expected = ExchangeFrom("127.0.0.1", redis.Port, input, firstByteMs: 2000);
            Assert.Equal(expected, ExchangeFrom("127.0.0.1", basalt.Port, input, firstByteMs: 2000));
        }

        Assert.Equal("-ERR Protocol error: unauthenticated multibulk length\r\n" + Closed, ExchangeFrom("127.0.0.1", basalt.Port, inputs[0]));
        Assert.Equal("-ERR Protocol error: unauthenticated bulk length\r\n" + Closed, ExchangeFrom("127.0.0.1", basalt.Port, inputs[2]));
    }

    [Fact]
    public void Client_query_buffer_limit_counts_what_redis_keeps_in_its_query_buffer()
    {
        // Redis moves each argument of 32 KB or more out of its query buffer as it arrives, so a request with several
        // large arguments may pass the limit in all; one argument larger than the limit may not.
        using var basalt = ServerProcess.StartBasalt("--shards", "2", "--client-query-buffer-limit", "1mb");
        using var redis = ServerProcess.StartRedis("--client-query-buffer-limit", "1mb");
        var big = new string('v', 600_000);
        var twoLarge = $"*5\r\n$4\r\nMSET\r\n$2\r\nqa\r\n$600000\r\n{big}\r\n$2\r\nqb\r\n$600000\r\n{big}\r\nSTRLEN qb\r\n";
        var tooLarge = $"*3\r\n$3\r\nSET\r\n$2\r\nqc\r\n$1500000\r\n{new string('v', 1_500_000)}\r\nPING\r\n";
        foreach (var server in new[] { redis, basalt })
        {
            Assert.Equal("+OK\r\n:600000\r\n" + Open, ExchangeFrom("127.0.0.1", server.Port, twoLarge));
            Assert.Equal(Closed, ExchangeFrom("127.0.0.1", server.Port, tooLarge));
            using var c = server.Connect();
            Assert.Equal(0, c.Call("EXISTS", "qc").Integer);
        }
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Clearing_requirepass_serves_a_client_that_connected_while_it_was_set(string which)
    {
        using var server = Start(which);
        using var admin = server.Connect();
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "requirepass", "pw").Text);
        using var early = server.Connect();
        Assert.Equal("NOAUTH Authentication required.", early.Call("PING").Text);

        Assert.Equal("OK", admin.Call("AUTH", "pw").Text);
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "requirepass", string.Empty).Text);
        Assert.Equal("PONG", early.Call("PING").Text);

        // It never authenticated, so a password set again applies to it again.
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "requirepass", "pw2").Text);
        Assert.Equal("NOAUTH Authentication required.", early.Call("PING").Text);
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void A_client_silent_for_longer_than_timeout_is_closed_and_an_active_one_is_not(string which)
    {
        using var server = Start(which);
        using var admin = server.Connect();
        using var busy = server.Connect();
        using var idle = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        idle.Connect(IPAddress.Loopback, server.Port);
        idle.Send("PING\r\n"u8);
        Assert.Equal("+PONG\r\n", ReadSome(idle));

        // timeout 0, the default, never closes a client.
        Thread.Sleep(1500);
        idle.Send("PING\r\n"u8);
        Assert.Equal("+PONG\r\n", ReadSome(idle));

        // A new timeout holds for clients already connected.
        Assert.Equal("PONG", busy.Call("PING").Text);
        var lastInteraction = DateTime.UtcNow;
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "timeout", "1").Text);
        idle.ReceiveTimeout = 100;
        TimeSpan? closedAfter = null;
        while (closedAfter is null && DateTime.UtcNow - lastInteraction < TimeSpan.FromSeconds(6))
        {
            Assert.Equal("PONG", busy.Call("PING").Text);
            Assert.Equal("PONG", admin.Call("PING").Text);
            try
            {
                if (idle.Receive(new byte[16]) == 0)
                {
                    closedAfter = DateTime.UtcNow - lastInteraction;
                }
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
            {
            }
        }

        Assert.True(closedAfter is not null, "the idle client was still open 6 s after timeout was set to 1");
        Assert.True(closedAfter >= TimeSpan.FromMilliseconds(950), $"closed after {closedAfter}, before the timeout ran out");
        Assert.Equal("PONG", busy.Call("PING").Text);
    }

    [Theory]
    [MemberData(nameof(Servers))]
    public void Tcp_keepalive_arms_the_kernel_probe_timer_on_new_clients(string which)
    {
        using var server = Start(which);
        using var admin = server.Connect();

        // /proc/net/tcp shows the server side's timer: 2 is keepalive, due in clock ticks (USER_HZ, 100 a second).
        Assert.Equal((2, 300), KeepAliveOfNewClient(server.Port));
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "tcp-keepalive", "60").Text);
        Assert.Equal((2, 60), KeepAliveOfNewClient(server.Port));
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "tcp-keepalive", "0").Text);
        Assert.Equal((0, 0), KeepAliveOfNewClient(server.Port));
    }

    private const string Closed = "[closed]";
    private const string Open = "[open]";

    private static ServerProcess Start(string which) => which == "redis" ? ServerProcess.StartRedis() : ServerProcess.StartBasalt("--shards", "2");

    /// <summary>
    /// Connects from <paramref name="source"/>, sends the request, and returns what comes back until the server closes,
    /// or goes quiet for 500 ms after its first bytes, followed by how it ended: <c>[closed]</c> (end of stream or reset)
    /// or <c>[open]</c> (quiet). The first bytes may take up to <paramref name="firstByteMs"/>, so a server slowed by a
    /// busy machine is not read as one that answered nothing, and a server that hangs is not read as one that closed.
    /// </summary>
    private static string ExchangeFrom(string source, int port, string request, int firstByteMs = 10_000)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Bind(new IPEndPoint(IPAddress.Parse(source), 0));
        socket.Connect(IPAddress.Loopback, port);
        socket.Send(Encoding.ASCII.GetBytes(request));
        socket.ReceiveTimeout = firstByteMs;
        var output = new MemoryStream();
        var buffer = new byte[4096];
        string end;
        while (true)
        {
            int n;
            try
            {
                n = socket.Receive(buffer);
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.TimedOut)
            {
                end = Open;
                break;
            }
            catch (SocketException ex) when (ex.SocketErrorCode is SocketError.ConnectionReset)
            {
                end = Closed;
                break;
            }

            if (n == 0)
            {
                end = Closed;
                break;
            }

            output.Write(buffer, 0, n);
            socket.ReceiveTimeout = 500;
        }

        return Encoding.ASCII.GetString(output.ToArray()) + end;
    }

    private static string ReadSome(Socket socket)
    {
        var buffer = new byte[256];
        var n = socket.Receive(buffer);
        return Encoding.ASCII.GetString(buffer, 0, n);
    }

    /// <summary>A new client's server-side timer from /proc/net/tcp: (kind, seconds until due, rounded up).</summary>
    private static (int Kind, int Seconds) KeepAliveOfNewClient(int port)
    {
        using var client = new RespConnection(port);
        Assert.Equal("PONG", client.Call("PING").Text);
        var clientPort = ((IPEndPoint)client.Socket.LocalEndPoint!).Port;
        var local = string.Create(CultureInfo.InvariantCulture, $":{port:X4}");
        var remote = string.Create(CultureInfo.InvariantCulture, $":{clientPort:X4}");
        foreach (var line in File.ReadLines("/proc/net/tcp").Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f[1].EndsWith(local, StringComparison.Ordinal) && f[2].EndsWith(remote, StringComparison.Ordinal))
            {
                var timer = f[5].Split(':');
                var ticks = long.Parse(timer[1], NumberStyles.HexNumber, CultureInfo.InvariantCulture);
                return (int.Parse(timer[0], NumberStyles.HexNumber, CultureInfo.InvariantCulture), (int)((ticks + 99) / 100));
            }
        }

        Assert.Fail($"no server-side socket for client port {clientPort} in /proc/net/tcp");
        return default;
    }
}
