using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// What a command leaves behind, compared with a redis-server 7.0 started alongside with the same settings: the
/// command CLIENT LIST shows for a client, a key's idle time, and DEBUG's argument handling.
/// </summary>
public sealed class CommandStateTests : IDisposable
{
    private readonly ServerProcess _basalt = ServerProcess.StartBasalt("--shards", "2", "--enable-debug-command", "yes");
    private readonly ServerProcess _redis = ServerProcess.StartRedis("--enable-debug-command", "yes");

    public void Dispose()
    {
        _basalt.Dispose();
        _redis.Dispose();
    }

    [Fact]
    public void Client_list_shows_the_command_looked_up_even_when_refused_and_NULL_when_none_was_found()
    {
        foreach (var server in new[] { _redis, _basalt })
        {
            using var a = server.Connect();
            using var b = server.Connect();
            var id = a.Call("CLIENT", "ID").Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            string Cmd() => b.Call("CLIENT", "LIST", "ID", id).Text!.Split(' ').Single(f => f.StartsWith("cmd=", StringComparison.Ordinal));

            Assert.Equal("PONG", a.Call("PING").Text);
            Assert.StartsWith("ERR unknown command", a.Call("NOSUCH").Text, StringComparison.Ordinal);
            Assert.Equal("cmd=NULL", Cmd());
            Assert.Equal("OK", a.Call("SET", "k", "v").Text);
            Assert.StartsWith("ERR unknown subcommand", a.Call("CLIENT", "FOO").Text, StringComparison.Ordinal);
            Assert.Equal("cmd=NULL", Cmd());
            Assert.StartsWith("ERR wrong number of arguments", a.Call("GET").Text, StringComparison.Ordinal);
            Assert.Equal("cmd=get", Cmd());
        }
    }

    [Fact]
    public void Expire_and_persist_restart_the_idle_time_as_writes_do()
    {
        using var r = _redis.Connect();
        using var b = _basalt.Connect();
        foreach (var c in new[] { r, b })
        {
            Assert.Equal("OK", c.Call("SET", "idle:e", "v").Text);
            Assert.Equal("OK", c.Call("SET", "idle:p", "v", "EX", "100").Text);
            Assert.Equal("OK", c.Call("SET", "idle:untouched", "v").Text);
        }

        Thread.Sleep(2500);
        foreach (var c in new[] { r, b })
        {
            AssertTimePassed(c);
            Assert.Equal(1, c.Call("EXPIRE", "idle:e", "100").Integer);
            Assert.Equal(1, c.Call("PERSIST", "idle:p").Integer);
            AssertRestarted(c, "idle:e", "idle:p");
        }
    }

    [Fact]
    public void A_write_that_is_refused_still_restarts_the_idle_time_of_the_keys_it_looked_up()
    {
        // Redis's lookupKeyWrite counts an access before the command decides to refuse: RENAMENX onto an existing key,
        // COPY and MOVE onto one, SETNX, SET NX and MSETNX of an existing key.
        using var r = _redis.Connect();
        using var b = _basalt.Connect();
        foreach (var c in new[] { r, b })
        {
            foreach (var key in new[] { "idle:s1", "idle:d1", "idle:s2", "idle:d2", "idle:s3", "idle:n1", "idle:n2", "idle:untouched" })
            {
                Assert.Equal("OK", c.Call("SET", key, "v").Text);
            }

            Assert.Equal("OK", c.Call("SELECT", "1").Text);
            Assert.Equal("OK", c.Call("SET", "idle:s3", "other").Text);
            Assert.Equal("OK", c.Call("SELECT", "0").Text);
        }

        Thread.Sleep(2500);
        foreach (var c in new[] { r, b })
        {
            AssertTimePassed(c);
            Assert.Equal(0, c.Call("RENAMENX", "idle:s1", "idle:d1").Integer);
            Assert.Equal(0, c.Call("COPY", "idle:s2", "idle:d2").Integer);
            Assert.Equal(0, c.Call("MOVE", "idle:s3", "1").Integer);
            Assert.Equal(0, c.Call("SETNX", "idle:n1", "x").Integer);
            Assert.True(c.Call("SET", "idle:n2", "x", "NX").IsNull);
            AssertRestarted(c, "idle:s1", "idle:d1", "idle:s2", "idle:d2", "idle:s3", "idle:n1", "idle:n2");
            Assert.Equal(0, c.Call("MSETNX", "idle:untouched", "1", "idle:fresh", "2").Integer);
            AssertRestarted(c, "idle:untouched");
            Assert.Equal("OK", c.Call("SELECT", "1").Text);
            AssertRestarted(c, "idle:s3");
            Assert.Equal("OK", c.Call("SELECT", "0").Text);
        }
    }

    /// <summary>The control key, untouched since the sleep began, shows the seconds passed (OBJECT itself touches nothing).</summary>
    private static void AssertTimePassed(RespConnection c)
    {
        var idle = c.Call("OBJECT", "IDLETIME", "idle:untouched").Integer;
        Assert.True(idle >= 2, $"the control key is idle {idle} s");
    }

    /// <summary>
    /// Each key was accessed just now. Idle time counts whole seconds on a clock that may tick between the access and the
    /// read, so "just now" is at most 1.
    /// </summary>
    private static void AssertRestarted(RespConnection c, params string[] keys)
    {
        foreach (var key in keys)
        {
            var idle = c.Call("OBJECT", "IDLETIME", key).Integer;
            Assert.True(idle <= 1, $"{key} idle {idle} s after an access");
        }
    }

    [Theory]
    [InlineData("DEBUG", "foo")]
    [InlineData("DEBUG", "SLEEP")]
    [InlineData("DEBUG", "SLEEP", "0", "1")]
    [InlineData("DEBUG", "SLEEP", "abc")]
    [InlineData("DEBUG", "SLEEP", "")]
    [InlineData("DEBUG", "SLEEP", "0x0")]
    [InlineData("DEBUG", "SLEEP", " 0.01 ")]
    [InlineData("DEBUG", "SLEEP", "1e-2x")]
    public void Debug_answers_as_redis_does(params string[] command)
    {
        using var r = _redis.Connect();
        using var b = _basalt.Connect();
        var expected = r.Call(command);
        var actual = b.Call(command);
        Assert.Equal((expected.Type, expected.Text), (actual.Type, actual.Text));
    }

    [Fact]
    public void Client_list_takes_type_alone_or_ids_in_the_order_given()
    {
        foreach (var server in new[] { _redis, _basalt })
        {
            using var a = server.Connect();
            using var b = server.Connect();
            var ida = a.Call("CLIENT", "ID").Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var idb = b.Call("CLIENT", "ID").Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);

            Assert.Equal("ERR Unknown client type 'FOO'", a.Call("CLIENT", "LIST", "TYPE", "FOO").Text);
            Assert.Equal("ERR syntax error", a.Call("CLIENT", "LIST", "TYPE", "normal", "ID", ida).Text);
            Assert.Equal("ERR syntax error", a.Call("CLIENT", "LIST", "TYPE", "normal", "TYPE", "normal").Text);
            Assert.Equal("ERR syntax error", a.Call("CLIENT", "LIST", "ID").Text);
            var lines = a.Call("CLIENT", "LIST", "ID", ida, idb, ida, "999999").Text!.Split('\n', StringSplitOptions.RemoveEmptyEntries);
            Assert.Equal([ida, idb, ida], lines.Select(l => l.Split(' ')[0]["id=".Length..]));
        }
    }

    [Fact]
    public void Debug_is_refused_by_its_setting_before_the_password_is_asked_for()
    {
        using var basalt = ServerProcess.StartBasalt("--shards", "2", "--requirepass", "pw");
        using var redis = ServerProcess.StartRedis("--requirepass", "pw");
        using var r = redis.Connect();
        using var b = basalt.Connect();
        var expected = r.Call("DEBUG", "SLEEP", "0").Text;
        Assert.StartsWith("ERR DEBUG command not allowed.", expected, StringComparison.Ordinal);
        Assert.Equal(expected, b.Call("DEBUG", "SLEEP", "0").Text);
    }

    [Fact]
    public void Client_no_touch_leaves_access_times_alone_for_every_command_but_touch()
    {
        // Redis 7.2's CLIENT NO-TOUCH (7.0 has none, so Basalt alone): no lookup of this client restarts a key's idle
        // time, including the commands that run across shards, and a renamed or moved key keeps its idle time; TOUCH
        // still counts.
        using var a = _basalt.Connect();
        using var b = _basalt.Connect();
        string[] keys = ["nt:get", "nt:mget1", "nt:mget2", "nt:lcs1", "nt:lcs2", "nt:copy", "nt:rename", "nt:move", "nt:touch", "idle:untouched"];
        foreach (var key in keys)
        {
            Assert.Equal("OK", a.Call("SET", key, "v").Text);
        }

        Thread.Sleep(2500);
        AssertTimePassed(a);
        Assert.Equal("OK", b.Call("CLIENT", "NO-TOUCH", "ON").Text);
        Assert.Equal("v", b.Call("GET", "nt:get").Text);
        Assert.Equal(2, b.Call("MGET", "nt:mget1", "nt:mget2").Items!.Count);
        Assert.Equal("v", b.Call("LCS", "nt:lcs1", "nt:lcs2").Text);
        Assert.Equal(1, b.Call("COPY", "nt:copy", "nt:copied").Integer);
        Assert.Equal("OK", b.Call("RENAME", "nt:rename", "nt:renamed").Text);
        Assert.Equal(1, b.Call("MOVE", "nt:move", "1").Integer);
        Assert.Equal(1, b.Call("TOUCH", "nt:touch").Integer);

        foreach (var key in new[] { "nt:get", "nt:mget1", "nt:mget2", "nt:lcs1", "nt:lcs2", "nt:copy", "nt:renamed" })
        {
            var idle = a.Call("OBJECT", "IDLETIME", key).Integer;
            Assert.True(idle >= 2, $"{key} idle {idle} s after a NO-TOUCH client's access");
        }

        Assert.Equal("OK", a.Call("SELECT", "1").Text);
        Assert.True(a.Call("OBJECT", "IDLETIME", "nt:move").Integer >= 2, "the moved key lost its idle time");
        Assert.Equal("OK", a.Call("SELECT", "0").Text);
        AssertRestarted(a, "nt:touch", "nt:copied");
    }

    [Fact]
    public void A_connection_refused_for_maxclients_is_counted_as_rejected_not_received()
    {
        foreach (var server in new[] { _redis, _basalt })
        {
            using var a = server.Connect();
            long Stat(string name) => long.Parse(a.Call("INFO", "stats").Text!.Split("\r\n").Single(l => l.StartsWith(name + ":", StringComparison.Ordinal))[(name.Length + 1)..], System.Globalization.CultureInfo.InvariantCulture);
            var received = Stat("total_connections_received");
            Assert.Equal("OK", a.Call("CONFIG", "SET", "maxclients", "1").Text);
            using (var refused = server.Connect())
            {
                Assert.Equal("ERR max number of clients reached", refused.Read().Text);
            }

            Assert.Equal(received, Stat("total_connections_received"));
            Assert.Equal(1, Stat("rejected_connections"));
        }
    }

    [Fact]
    public void Client_kill_by_address_alone_reads_the_address_as_a_C_string()
    {
        foreach (var server in new[] { _redis, _basalt })
        {
            using var a = server.Connect();
            using var b = server.Connect();
            var addr = b.Call("CLIENT", "INFO").Text!.Split(' ').Single(f => f.StartsWith("addr=", StringComparison.Ordinal))["addr=".Length..];
            Assert.Equal("OK", a.Call("CLIENT", "KILL", addr + "\0junk").Text);
            Assert.True(b.IsClosedByServer(), "the client named before the NUL was not killed");
        }
    }

    [Fact]
    public void Client_list_shows_input_left_to_run_and_waits_to_write_only_on_a_full_socket()
    {
        var fields = new Dictionary<string, string>[2];
        var servers = new[] { _redis, _basalt };
        for (var i = 0; i < 2; i++)
        {
            using var a = servers[i].Connect();
            using var b = servers[i].Connect();

            // b's big SET has run: nothing of it is left to run. a's own batch is all of its query buffer while it runs.
            Assert.Equal("OK", b.Call("SET", "qb", new string('x', 30_000)).Text);
            var id = b.Call("CLIENT", "ID").Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);
            var other = Fields(a.Call("CLIENT", "LIST", "ID", id).Text!);
            a.SendRaw([.. RespConnection.Encode("PING"), .. RespConnection.Encode("CLIENT", "INFO")]);
            Assert.Equal("PONG", a.Read().Text);
            var self = Fields(a.Read().Text!);
            fields[i] = new()
            {
                ["other qbuf"] = other["qbuf"],
                ["other events"] = other["events"],
                ["self qbuf"] = self["qbuf"],
                ["self obl"] = self["obl"],
                ["self events"] = self["events"],
            };
        }

        Assert.Equal(fields[0], fields[1]);

        static Dictionary<string, string> Fields(string line) =>
            line.Trim().Split(' ').Select(f => f.Split('=', 2)).ToDictionary(kv => kv[0], kv => kv[1]);
    }
}
