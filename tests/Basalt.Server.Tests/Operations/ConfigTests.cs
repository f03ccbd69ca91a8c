using System.Diagnostics;
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

        ConfigRewriter.Rewrite(config, path);

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
        ConfigRewriter.Rewrite(reread, path);
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
        using var server = ServerProcess.StartBasalt("--hz", "12");
        using var c = server.Connect();

        string[] Get(params string[] patterns) => c.Call(["CONFIG", "GET", .. patterns]).Items!.Select(v => v.Text!).ToArray();

        Assert.Equal(["maxclients", "10000", "proto-max-bulk-len", "536870912"], Get("*max*"));
        Assert.Equal(["hz", "12"], Get("h?"));
        Assert.Equal(["hz", "12"], Get("HZ"));
        Assert.Equal(["client-output-buffer-limit", "normal 268435456 0 0", "client-query-buffer-limit", "1073741824"], Get("client-*-limit"));
        Assert.Equal(["hz", "12", "maxclients", "10000"], Get("h?", "maxclients", "max*"));
        Assert.Empty(Get("nosuch*"));
    }

    [Fact]
    public void CONFIG_REWRITE_without_a_config_file_is_an_error()
    {
        using var server = ServerProcess.StartBasalt();
        using var c = server.Connect();
        Assert.Equal("ERR The server is running without a config file", c.Call("CONFIG", "REWRITE").Text);
    }

    [Fact]
    public void An_invalid_config_file_stops_startup_with_one_line_and_a_nonzero_exit()
    {
        var path = Write("broken.conf", "port 6390\nmaxclients -5\n");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true };
        psi.ArgumentList.Add(RepoPaths.ServerDll);
        psi.ArgumentList.Add(path);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEnd();
        var stdout = p.StandardOutput.ReadToEnd();
        Assert.True(p.WaitForExit(30_000));

        Assert.NotEqual(0, p.ExitCode);
        Assert.Equal(string.Empty, stdout);
        var lines = stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Single(lines);
        Assert.Contains($"{path}:2: 'maxclients': argument must be between 1 and", lines[0], StringComparison.Ordinal);
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

    private string Write(string name, string text)
    {
        var path = Path.Combine(_dir, name);
        File.WriteAllText(path, text.Replace("\r", string.Empty, StringComparison.Ordinal) + "\n");
        return path;
    }
}
