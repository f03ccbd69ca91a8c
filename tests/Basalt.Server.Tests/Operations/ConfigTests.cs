using System.Diagnostics;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests.Operations;

/// <summary>The settings table and its three sources: redis.conf-style files, flags, and CONFIG GET/SET/REWRITE.</summary>
public sealed class ConfigTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("basalt-conf-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void A_file_with_comments_quotes_and_includes_is_applied_in_order()
    {
        // databases is set only here: it shows the include was read; hz and maxclients show its place in the order.
        var included = Write("extra.conf", """
            # included file
            hz 20
            maxclients 50
            databases 8
            """);
        var main = Write("basalt.conf", $"""
            # Basalt test config
              port 6390   
            requirepass "two words \"quoted\""
            dir '{_dir}/data dir'
            save 900 1
            save 300 10
            include {included}
            maxclients 60
            loglevel WARNING
            """);

        var config = new ServerConfig();
        config.ApplyArguments([main, "--hz", "30"]);

        Assert.Equal(6390, config.Port);
        Assert.Equal("two words \"quoted\"", config.RequirePass);
        Assert.Equal(Path.Combine(_dir, "data dir"), config.Dir);
        Assert.Equal("900 1 300 10", config.SavePoints);
        Assert.Equal(60, config.MaxClients);
        Assert.Equal(30, config.Hz);
        Assert.Equal(8, config.Databases);
        Assert.Equal("warning", config.Get("loglevel"));
        Assert.Equal(main, config.ConfigFile);
    }

    [Fact]
    public void A_relative_include_resolves_against_the_working_directory_not_the_including_file()
    {
        // Two files named extra.conf: the one beside the config file is a decoy, the one in the
        // working directory is the one Redis (and so Basalt) reads.
        var cwd = Directory.CreateDirectory(Path.Combine(_dir, "cwd")).FullName;
        var confDir = Directory.CreateDirectory(Path.Combine(_dir, "conf")).FullName;
        File.WriteAllText(Path.Combine(cwd, "extra.conf"), "databases 8\n");
        File.WriteAllText(Path.Combine(confDir, "extra.conf"), "databases 4\n");
        var main = Path.Combine(confDir, "basalt.conf");
        File.WriteAllText(main, "include extra.conf\n");

        using var server = ServerProcess.StartBasalt(new BasaltStart { ConfigFile = main, WorkingDirectory = cwd });
        using var c = server.Connect();

        Assert.Equal(["databases", "8"], c.Call("CONFIG", "GET", "databases").Items!.Select(v => v.Text).ToArray());
    }

    [Fact]
    public void Flags_are_read_as_redis_reads_them_a_value_may_start_with_dashes_and_a_bare_save_is_empty()
    {
        // Each checked against redis-server 7.0.15 with the same arguments.
        var config = new ServerConfig();
        config.ApplyArguments(["--requirepass", "--secret", "--save", "--hz 33", "--maxclients", "77"]);
        Assert.Equal("--secret", config.RequirePass);
        Assert.Equal(string.Empty, config.SavePoints);
        Assert.Equal(33, config.Hz);
        Assert.Equal(77, config.MaxClients);

        var last = new ServerConfig();
        last.ApplyArguments(["--save", "900", "1", "--save", "300", "10", "--databases", "4", "--save"]);
        Assert.Equal(string.Empty, last.SavePoints);
        Assert.Equal(4, last.Databases);

        var error = Assert.Throws<ConfigException>(() => new ServerConfig().ApplyArguments(["--hz", "10", "--", "x"]));
        Assert.Contains("argument '--': expected --name value", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void A_config_from_stdin_applies_after_the_file_and_before_the_flags()
    {
        var main = Write("basalt.conf", "hz 15\nmaxclients 60\ndatabases 8\n");
        var config = new ServerConfig();
        config.ApplyArguments([main, "--maxclients", "70", "-"], () => new MemoryStream("hz 44\nmaxclients 50\n"u8.ToArray()));
        Assert.Equal(44, config.Hz);
        Assert.Equal(70, config.MaxClients);
        Assert.Equal(8, config.Databases);
        Assert.Equal(main, config.ConfigFile);

        var first = new ServerConfig();
        first.ApplyArguments(["-", "--hz", "12"], () => new MemoryStream("hz 44\ndatabases 2\n"u8.ToArray()));
        Assert.Equal((12, 2), (first.Hz, first.Databases));
        Assert.Null(first.ConfigFile);
    }

    [Fact]
    public async Task The_server_reads_its_config_from_stdin_and_names_stdin_in_an_error()
    {
        var (exit, stdout, stderr) = await RunToExitAsync("port 6390\nmaxclients lots\n", ["-", "--admin-port", "0"]);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout);
        var line = Assert.Single(stderr);
        Assert.Contains("stdin:2: 'maxclients': argument couldn't be parsed into an integer", line, StringComparison.Ordinal);
    }

    [Fact]
    public void An_include_pattern_reads_every_matching_file_in_byte_order_and_a_pattern_matching_nothing_reads_nothing()
    {
        // As Redis 7.0 (checked with redis-server): glob(3) order, dot files only for a pattern that starts with a dot.
        var confD = Directory.CreateDirectory(Path.Combine(_dir, "conf.d")).FullName;
        File.WriteAllText(Path.Combine(confD, "b.conf"), "hz 18\nmaxclients 77\n");
        File.WriteAllText(Path.Combine(confD, "a.conf"), "hz 17\ndatabases 8\n");
        File.WriteAllText(Path.Combine(confD, "B.conf"), "databases 4\n"); // 'B' sorts before 'a' and 'b'
        File.WriteAllText(Path.Combine(confD, ".hidden.conf"), "hz 99\n");
        File.WriteAllText(Path.Combine(confD, "c.txt"), "bogus-setting 1\n");
        var main = Write("basalt.conf", $"include {confD}/*.conf\ninclude {confD}/nothing-*.conf\n");

        var config = new ServerConfig();
        config.ApplyArguments([main]);

        Assert.Equal(18, config.Hz);
        Assert.Equal(77, config.MaxClients);
        Assert.Equal(8, config.Databases);

        var dirPattern = Write("dirpattern.conf", $"include {_dir}/conf.*/a.conf\n");
        var error = Assert.Throws<ConfigException>(() => new ServerConfig().ApplyArguments([dirPattern]));
        Assert.Contains("'include' takes a pattern in the file name only", error.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("port 6390\nbogus-setting 1\n", 2, "unknown setting 'bogus-setting'")]
    [InlineData("# c\n\nmaxclients lots\n", 3, "argument couldn't be parsed into an integer")]
    [InlineData("requirepass \"open\n", 1, "unbalanced quotes")]
    [InlineData("save 900\n", 1, "Invalid save parameters")]
    public void An_invalid_line_names_the_file_the_line_and_the_reason(string text, int line, string reason)
    {
        var path = Write("bad.conf", text);
        var ex = Assert.Throws<ConfigException>(() => new ServerConfig().ApplyArguments([path]));
        Assert.Contains($"{path}:{line}:", ex.Message, StringComparison.Ordinal);
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void An_include_cycle_is_refused_not_followed_forever()
    {
        var a = Path.Combine(_dir, "a.conf");
        var b = Write("b.conf", $"include {a}\n");
        File.WriteAllText(a, $"include {b}\n");
        var ex = Assert.Throws<ConfigException>(() => new ServerConfig().ApplyArguments([a]));
        Assert.Contains("nested deeper", ex.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(1)]
    [InlineData(2)]
    public void Setting_several_pairs_where_one_is_invalid_changes_none_of_them(int invalidAt)
    {
        var config = new ServerConfig();
        var pairs = new List<(string, string)> { ("hz", "40"), ("maxclients", "77") };
        pairs.Insert(invalidAt, ("loglevel", "chatty"));

        var failure = config.TrySetAll(pairs);

        Assert.Equal(("loglevel", "argument(s) must be one of the following: debug, verbose, notice, warning"), failure);
        Assert.Equal("10", config.Get("hz"));
        Assert.Equal("10000", config.Get("maxclients"));
        Assert.Equal("notice", config.Get("loglevel"));
        Assert.Null(config.TrySetAll([("hz", "40"), ("maxclients", "77")]));
        Assert.Equal("40", config.Get("hz"));
        Assert.Equal("77", config.Get("maxclients"));
    }

    [Fact]
    public void Rewrite_keeps_comments_and_order_replaces_values_and_appends_the_rest()
    {
        var path = Write("basalt.conf", """
            # top comment
            hz 20

            # the password
            requirepass old
            save 900 1
            save 300 10
            maxclients 100
            """);
        var config = new ServerConfig();
        config.ApplyArguments([path]);
        Assert.Null(config.TrySetAll([("hz", "25"), ("requirepass", "new secret"), ("save", ""), ("loglevel", "warning")]));

        config.Rewrite(path);

        Assert.Equal(
            [
                "# top comment",
                "hz 25",
                string.Empty,
                "# the password",
                "requirepass \"new secret\"",
                "save \"\"",
                "maxclients 100",
                ConfigRewriter.Marker,
                "loglevel warning",
            ],
            File.ReadAllLines(path));

        // And it round-trips: the rewritten file gives back the same values.
        var reread = new ServerConfig();
        reread.ApplyArguments([path]);
        foreach (var s in config.Settings)
        {
            Assert.Equal(s.Name + "=" + config.Get(s.Name), s.Name + "=" + reread.Get(s.Name));
        }

        // A second rewrite with nothing changed leaves the file as it is.
        var once = File.ReadAllText(path);
        reread.Rewrite(path);
        Assert.Equal(once, File.ReadAllText(path));
    }

    [Fact]
    public void CONFIG_REWRITE_over_TCP_survives_a_restart()
    {
        var path = Write("basalt.conf", "# served by a test\nhz 15\n");
        using (var server = ServerProcess.StartBasalt(new BasaltStart { ConfigFile = path }))
        {
            using var c = server.Connect();
            Assert.Equal("OK", c.Call("CONFIG", "SET", "hz", "33", "maxclients", "321").Text);
            Assert.Equal("OK", c.Call("CONFIG", "REWRITE").Text);
        }

        var text = File.ReadAllText(path);
        Assert.StartsWith("# served by a test\nhz 33\n", text, StringComparison.Ordinal);
        using var again = ServerProcess.StartBasalt(new BasaltStart { ConfigFile = path });
        using var c2 = again.Connect();
        var got = c2.Call("CONFIG", "GET", "hz", "maxclients").Items!.Select(v => v.Text).ToArray();
        Assert.Equal(["hz", "33", "maxclients", "321"], got);
    }

    [Fact]
    public void CONFIG_GET_over_TCP_matches_glob_patterns_and_names_each_setting_once()
    {
        // maxclients is given: its default (10000) is fitted to the machine's open files limit.
        using var server = ServerProcess.StartBasalt("--hz", "12", "--maxclients", "200");
        using var c = server.Connect();

        string[] Get(params string[] patterns) => c.Call(["CONFIG", "GET", .. patterns]).Items!.Select(v => v.Text!).ToArray();

        Assert.Equal(["maxclients", "200", "proto-max-bulk-len", "536870912"], Get("*max*"));
        Assert.Equal(["hz", "12"], Get("h?"));
        Assert.Equal(["HZ", "12"], Get("HZ")); // a name without glob characters answers as typed, as in Redis 7.0
        Assert.Equal(["client-output-buffer-limit", "normal 268435456 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60", "client-query-buffer-limit", "1073741824"], Get("client-*-limit"));
        Assert.Equal(["hz", "12", "maxclients", "200"], Get("h?", "maxclients", "max*"));
        Assert.Empty(Get("nosuch*"));
    }

    [Fact]
    public async Task Appendonly_reads_no_and_yes_is_refused_at_runtime_and_at_startup()
    {
        using (var server = ServerProcess.StartBasalt())
        {
            using var c = server.Connect();
            Assert.Equal(["appendonly", "no"], c.Call("CONFIG", "GET", "appendonly").Items!.Select(v => v.Text!).ToArray());
            Assert.Equal("OK", c.Call("CONFIG", "SET", "appendonly", "no").Text);
            var refused = c.Call("CONFIG", "SET", "appendonly", "yes");
            Assert.Equal(RespType.Error, refused.Type);
            Assert.StartsWith("ERR CONFIG SET failed (possibly related to argument 'appendonly') - argument must be 'no': Basalt has no append-only file", refused.Text, StringComparison.Ordinal);
            Assert.Equal(["appendonly", "no"], c.Call("CONFIG", "GET", "appendonly").Items!.Select(v => v.Text!).ToArray());
        }

        var (exit, _, stderr) = await RunToExitAsync("--port", "0", "--admin-port", "0", "--dir", _dir, "--appendonly", "yes");
        Assert.Equal(1, exit);
        var line = Assert.Single(stderr);
        Assert.StartsWith("*** FATAL CONFIG ERROR *** command line: '--appendonly': 'appendonly': argument must be 'no'", line, StringComparison.Ordinal);
    }

    [Fact]
    public void CONFIG_REWRITE_from_clients_on_every_loop_at_once_always_succeeds_and_leaves_a_whole_file()
    {
        var path = Write("basalt.conf", "# served by a test\nhz 15\n");
        using var server = ServerProcess.StartBasalt(new BasaltStart("--shards", "2") { ConfigFile = path });
        Assert.Equal("OK", server.Connect().Call("CONFIG", "SET", "maxclients", "321").Text);

        // Connections are spread over the loops, so these pipelines rewrite from both at the same time.
        const int clients = 6, each = 100;
        var request = RespConnection.Encode("CONFIG", "REWRITE");
        var failures = new System.Collections.Concurrent.ConcurrentBag<string>();
        Parallel.For(0, clients, new ParallelOptions { MaxDegreeOfParallelism = clients }, _ =>
        {
            using var c = server.Connect();
            var batch = new byte[request.Length * each];
            for (var i = 0; i < each; i++)
            {
                request.CopyTo(batch, i * request.Length);
            }

            c.SendRaw(batch);
            for (var i = 0; i < each; i++)
            {
                var reply = c.Read();
                if (reply.Text != "OK")
                {
                    failures.Add(reply.Text ?? reply.Type.ToString());
                }
            }
        });

        Assert.Empty(failures);
        var text = File.ReadAllText(path);
        Assert.StartsWith("# served by a test\nhz 15\n", text, StringComparison.Ordinal);
        Assert.Single(text.Split('\n'), l => l == ConfigRewriter.Marker);
        Assert.Single(text.Split('\n'), l => l == "maxclients 321");
        Assert.Equal([Path.GetFileName(path)], Directory.GetFiles(_dir).Select(Path.GetFileName).Where(n => n!.Contains("basalt.conf", StringComparison.Ordinal)));
    }

    [Fact]
    public void A_CONFIG_REWRITE_that_fails_answers_an_error_and_leaves_no_temp_file()
    {
        var path = Write("basalt.conf", "hz 15\n");
        using var server = ServerProcess.StartBasalt(new BasaltStart("--shards", "2") { ConfigFile = path });
        using var c = server.Connect();

        // The config file's name is now a directory: the temp file is written, and its rename over the name fails.
        File.Delete(path);
        Directory.CreateDirectory(path);
        Assert.StartsWith("ERR Rewriting config file: ", c.Call("CONFIG", "REWRITE").Text, StringComparison.Ordinal);
        Assert.Empty(Directory.GetFiles(_dir));
        Assert.Equal("PONG", c.Call("PING").Text);
    }

    [Fact]
    public void CONFIG_REWRITE_without_a_config_file_is_an_error()
    {
        using var server = ServerProcess.StartBasalt();
        using var c = server.Connect();
        Assert.Equal("ERR The server is running without a config file", c.Call("CONFIG", "REWRITE").Text);
    }

    [Fact]
    public async Task An_invalid_config_file_stops_startup_with_one_line_and_a_nonzero_exit()
    {
        var path = Write("broken.conf", "port 6390\nmaxclients -5\n");

        var (exit, stdout, stderr) = await RunToExitAsync(path);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout);
        var line = Assert.Single(stderr);
        Assert.Contains($"{path}:2: 'maxclients': argument must be between 1 and", line, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("requirepass \"ab\\xffcd\"\n")]
    [InlineData("requirepass ab\u00ffcd\n")] // the byte 0xff itself: File.WriteAllBytes below writes chars 1:1
    public async Task A_config_value_that_is_not_UTF_8_stops_startup_instead_of_being_kept_as_something_else(string directive)
    {
        var path = Path.Combine(_dir, "binary.conf");
        await File.WriteAllBytesAsync(path, System.Text.Encoding.Latin1.GetBytes("port 6390\n" + directive));

        var (exit, _, stderr) = await RunToExitAsync(path);

        Assert.Equal(1, exit);
        var line = Assert.Single(stderr);
        Assert.Contains($"{path}:2: not UTF-8 text", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Comments_in_another_encoding_are_read_and_kept_byte_for_byte_by_CONFIG_REWRITE_and_UTF_8_values_work()
    {
        var path = Path.Combine(_dir, "latin1.conf");
        var latin1Comment = System.Text.Encoding.Latin1.GetBytes("# r\u00e9glages du serveur\n");
        var utf8Value = System.Text.Encoding.UTF8.GetBytes("requirepass \"p\u00e4ss w\u00f6rd\"\r\nhz 15\n");
        File.WriteAllBytes(path, [.. latin1Comment, .. utf8Value]);

        using var server = ServerProcess.StartBasalt(new BasaltStart { ConfigFile = path });
        using var c = server.Connect();
        Assert.Equal("WRONGPASS invalid username-password pair or user is disabled.", c.Call("AUTH", "p\u00e4ss").Text);
        Assert.Equal("OK", c.Call("AUTH", "p\u00e4ss w\u00f6rd").Text);

        // A value that isn't UTF-8 is refused, and the password stays what it was.
        var reply = c.Call([.. "CONFIG SET requirepass".Split(' ').Select(System.Text.Encoding.UTF8.GetBytes), [0x61, 0xff]]);
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'requirepass') - argument must be UTF-8 text", reply.Text);
        Assert.Equal(["requirepass", "p\u00e4ss w\u00f6rd"], c.Call("CONFIG", "GET", "requirepass").Items!.Select(v => v.Text));

        Assert.Equal("OK", c.Call("CONFIG", "SET", "hz", "33").Text);
        Assert.Equal("OK", c.Call("CONFIG", "REWRITE").Text);
        var text = File.ReadAllBytes(path);
        Assert.Equal(latin1Comment, text[..latin1Comment.Length]);
        Assert.Equal("requirepass \"p\u00e4ss w\u00f6rd\"\nhz 33\n", System.Text.Encoding.UTF8.GetString(text[latin1Comment.Length..]).Split(ConfigRewriter.Marker)[0]);
    }

    [Theory]
    [InlineData("nonsense", "'bind': 'nonsense' is not an IP address")]
    [InlineData("-::*", "'bind': '-::*': the first bind address must be IPv4 or *")]
    [InlineData("::1 127.0.0.1", "'bind': '::1': the first bind address must be IPv4 or *")]
    public async Task A_bind_address_the_server_cannot_listen_on_stops_startup_with_one_line(string bind, string reason)
    {
        var (exit, stdout, stderr) = await RunToExitAsync(["--port", "0", "--admin-port", "0", "--dir", _dir, "--bind", .. bind.Split(' ')]);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout);
        var line = Assert.Single(stderr);
        Assert.StartsWith("*** FATAL CONFIG ERROR *** command line: '--bind': ", line, StringComparison.Ordinal);
        Assert.Contains(reason, line, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_port_another_server_listens_on_stops_startup_instead_of_sharing_it()
    {
        // Two servers sharing one port (SO_REUSEPORT) would split clients between two keyspaces. As with
        // Redis, the second one must fail to start, whether the first is another Basalt or anything else.
        using var first = ServerProcess.StartBasalt();
        var port = first.Port.ToString(System.Globalization.CultureInfo.InvariantCulture);

        var (exit, stdout, _) = await RunToExitAsync("--port", port, "--admin-port", "0", "--dir", _dir);

        Assert.Equal(1, exit);
        Assert.Contains($"Could not listen on 127.0.0.1:{port}: Address already in use", stdout, StringComparison.Ordinal);
        using var c = first.Connect();
        Assert.Equal("PONG", c.Call("PING").Text);
    }

    [Fact]
    public async Task An_admin_port_in_use_stops_startup_at_once_naming_that_port()
    {
        // It used to name the RESP port, wait out a drain of loops that never started, and then abort (exit 134).
        using var holder = HoldPort(out var adminPort);
        var started = Stopwatch.StartNew();

        var (exit, stdout, _) = await RunToExitAsync("--port", "0", "--admin-port", adminPort, "--dir", _dir);

        Assert.Equal(1, exit);
        Assert.Contains($"Could not listen on 127.0.0.1:{adminPort}: ", stdout, StringComparison.Ordinal);
        Assert.DoesNotContain("Hosting failed to start", stdout, StringComparison.Ordinal); // one line, not a stack trace
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(8), $"took {started.Elapsed} to give up");
    }

    [Fact]
    public async Task A_resp_port_in_use_stops_startup_without_waiting_out_the_readiness_delay()
    {
        // The server never listened, so no load balancer has to see its 503 first: it used to wait the delay anyway.
        using var holder = HoldPort(out var port);
        var started = Stopwatch.StartNew();

        var adminPort = ServerProcess.FreePort().ToString(System.Globalization.CultureInfo.InvariantCulture);
        var (exit, stdout, _) = await RunToExitAsync("--port", port, "--admin-port", adminPort, "--dir", _dir, "--shutdown-readiness-delay", "20000");

        Assert.Equal(1, exit);
        Assert.Contains($"Could not listen on 127.0.0.1:{port}: ", stdout, StringComparison.Ordinal);
        Assert.True(started.Elapsed < TimeSpan.FromSeconds(10), $"took {started.Elapsed} to give up");
    }

    [Theory]
    [InlineData("requirepass \"a\\x41b\"", "aAb")]
    [InlineData("requirepass \"a\\tb\\\\c\"", "a\tb\\c")]
    [InlineData("requirepass 'it\\'s'", "it's")]
    [InlineData("requirepass ab\"c d\"", "abc d")]
    [InlineData("requirepass pass\u00a0word", "pass\u00a0word")]
    [InlineData("  requirepass   spaced  ", "spaced")]
    public void A_config_line_is_split_as_redis_splits_it(string line, string password)
    {
        // redis.conf lines go through sdssplitargs, the same splitter as inline requests.
        var file = Write("quoting.conf", line);
        using var basalt = ServerProcess.StartBasalt(new BasaltStart { ConfigFile = file });
        using var redis = ServerProcess.StartRedis(file);
        foreach (var server in new[] { redis, basalt })
        {
            using var c = server.Connect();
            Assert.Equal("OK", c.Call("AUTH", password).Text);
            Assert.Equal(password, c.Call("CONFIG", "GET", "requirepass").Items![1].Text);
        }
    }

    [Fact]
    public void Save_lines_add_up_across_an_include_and_across_the_command_line()
    {
        // Redis keeps one "save seen" flag for the whole startup: the first save line replaces the default, and a later
        // one in an included file, or on the command line, adds to it (redis-server 7.0: "900 1 60 10", "900 1 30 5").
        var included = Write("more.conf", "save 60 10");
        var withInclude = Write("main.conf", $"save 900 1\ninclude {included}");
        var plain = Write("plain.conf", "save 900 1");
        string Save(ServerProcess server)
        {
            using var c = server.Connect();
            return c.Call("CONFIG", "GET", "save").Items![1].Text!;
        }

        using (var server = ServerProcess.StartBasalt(new BasaltStart { ConfigFile = withInclude }))
        {
            Assert.Equal("900 1 60 10", Save(server));
        }

        using (var server = ServerProcess.StartBasalt(new BasaltStart("--save", "30 5") { ConfigFile = plain }))
        {
            Assert.Equal("900 1 30 5", Save(server));
        }
    }

    [Fact]
    public void Config_get_dir_answers_the_absolute_path_as_redis_does()
    {
        using var server = ServerProcess.StartBasalt(new BasaltStart(["--port", "0", "--admin-port", "0", "--dir", "rel-data"]) { Defaults = false, WorkingDirectory = _dir });
        using var c = server.Connect();
        Assert.Equal(["dir", Path.Combine(_dir, "rel-data")], c.Call("CONFIG", "GET", "dir").Items!.Select(v => v.Text!).ToArray());
    }

    [Fact]
    public async Task Maxclients_above_the_startup_ceiling_is_refused_naming_the_ceiling()
    {
        var (exit, stdout, stderr) = await RunToExitAsync("--port", "0", "--admin-port", "0", "--dir", _dir, "--maxclients", "2000000");

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout);
        var line = Assert.Single(stderr);
        Assert.Equal("*** FATAL CONFIG ERROR *** command line: '--maxclients': 'maxclients': Basalt supports at most 1000000 clients (each shard's inbox is allocated for maxclients at startup)", line);
    }

    [Fact]
    public async Task A_data_dir_that_cannot_be_created_stops_startup_with_one_line()
    {
        var file = Write("not-a-dir", "plain file");
        var dir = Path.Combine(file, "data");

        var (exit, stdout, stderr) = await RunToExitAsync("--port", "0", "--admin-port", "0", "--dir", dir);

        Assert.Equal(1, exit);
        Assert.Equal(string.Empty, stdout);
        var line = Assert.Single(stderr);
        Assert.StartsWith($"*** FATAL *** Can't create the data directory '{dir}': ", line, StringComparison.Ordinal);
    }

    [Fact]
    public void Loglevel_filters_lines_at_startup_and_changes_at_runtime_but_the_banner_always_prints()
    {
        using var server = ServerProcess.StartBasalt("--loglevel", "warning");
        Assert.Contains("pid=", server.Log, StringComparison.Ordinal);
        Assert.DoesNotContain("Readiness: gate", server.Log, StringComparison.Ordinal);

        using var admin = server.Connect();
        Assert.Equal("OK", admin.Call("CONFIG", "SET", "loglevel", "debug").Text);
        using (var other = server.Connect())
        {
            Assert.Equal("OK", other.Call("QUIT").Text);
        }

        Assert.True(server.WaitForLog("Closing client", TimeSpan.FromSeconds(10)), server.Log);
    }

    [Theory]
    [InlineData("-v", "Basalt server v=")]
    [InlineData("--version", "Basalt server v=")]
    [InlineData("-h", "Usage: basalt-server [/path/to/redis.conf] [--name value ...]")]
    [InlineData("--help", "Usage: basalt-server [/path/to/redis.conf] [--name value ...]")]
    public async Task Version_and_help_print_and_exit_0_as_redis_server_does(string flag, string firstLine)
    {
        var (exit, stdout, stderr) = await RunToExitAsync(flag);

        Assert.Equal(0, exit);
        Assert.StartsWith(firstLine, stdout, StringComparison.Ordinal);
        Assert.Empty(stderr);
    }

    /// <summary>A loopback port something else listens on, for the length of a test.</summary>
    private static System.Net.Sockets.TcpListener HoldPort(out string port)
    {
        var holder = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        holder.Start();
        port = ((System.Net.IPEndPoint)holder.LocalEndpoint).Port.ToString(System.Globalization.CultureInfo.InvariantCulture);
        return holder;
    }

    /// <summary>Runs the real server process to its exit, for startup errors: exit code, stdout, and stderr's non-empty lines.</summary>
    private static Task<(int Exit, string Stdout, string[] Stderr)> RunToExitAsync(params string[] args) => RunToExitAsync(null, args);

    private static async Task<(int Exit, string Stdout, string[] Stderr)> RunToExitAsync(string? stdin, string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = stdin is not null };
        psi.ArgumentList.Add(RepoPaths.ServerDll);
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            await p.StandardInput.WriteAsync(stdin);
            p.StandardInput.Close();
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        try
        {
            var stderr = p.StandardError.ReadToEndAsync(deadline.Token);
            var stdout = await p.StandardOutput.ReadToEndAsync(deadline.Token);
            await p.WaitForExitAsync(deadline.Token);
            return (p.ExitCode, stdout, (await stderr).Split('\n', StringSplitOptions.RemoveEmptyEntries));
        }
        finally
        {
            // A server that started instead of failing must not outlive the test.
            if (!p.HasExited)
            {
                p.Kill(entireProcessTree: true);
            }
        }
    }

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text.Replace("\r", string.Empty, StringComparison.Ordinal) + "\n");
        return path;
    }
}
