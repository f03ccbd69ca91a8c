using System.Globalization;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>redis-cli (Debian's redis-tools) and ioredis (npm, installed into tests/clients/node) against Basalt.</summary>
[Collection("basalt")]
public sealed class RealClientTests(BasaltFixture fixture)
{
    private string Port => fixture.Server.Port.ToString(CultureInfo.InvariantCulture);

    [Fact]
    public async Task Redis_cli_prints_what_it_prints_for_redis()
    {
        const string Session = "SET cli:a 1\nINCR cli:a\nMGET cli:a cli:none\nTYPE cli:a\nGET\nSET cli:b \"x y\" EX 100\nTTL cli:b\nEXISTS cli:a cli:b\nDEL cli:a cli:b\nNOPE x\n";
        using var redis = ServerProcess.StartRedis();
        foreach (var proto in new[] { "-2", "-3" })
        {
            var expected = await ClientProcess.RunAsync("redis-cli", ["-p", redis.Port.ToString(CultureInfo.InvariantCulture), proto], stdin: Session);
            var actual = await ClientProcess.RunAsync("redis-cli", ["-p", Port, proto], stdin: Session);
            Assert.Equal(expected, actual);
        }
    }

    [Fact]
    public async Task Redis_cli_resp3_and_scan_mode_work()
    {
        // redis-cli prints a RESP3 map one "key value" line per entry (an array would put each on its own line).
        var (helloExit, hello) = await ClientProcess.RunAsync("redis-cli", ["-p", Port, "-3", "HELLO", "3"]);
        Assert.Equal(0, helloExit);
        var lines = hello.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Contains("proto 3", lines);
        Assert.Contains("mode standalone", lines);
        using (var c = fixture.Connect())
        {
            for (var i = 0; i < 100; i++)
            {
                c.Call("SET", $"cliscan:{i}", "x");
            }
        }

        var (exit, keys) = await ClientProcess.RunAsync("redis-cli", ["-p", Port, "--scan", "--pattern", "cliscan:*"]);
        Assert.Equal(0, exit);
        Assert.Equal(100, keys.Split('\n', StringSplitOptions.RemoveEmptyEntries).Distinct().Count());
    }

    [Fact]
    public async Task Redis_cli_pipe_mode_loads_data()
    {
        var input = string.Concat(Enumerable.Range(0, 1000).Select(i => $"SET clipipe:{i} v{i}\r\n"));
        var (exit, output) = await ClientProcess.RunAsync("redis-cli", ["-p", Port, "--pipe"], stdin: input);
        Assert.True(exit == 0, output);
        Assert.Contains("errors: 0, replies: 1000", output, StringComparison.Ordinal);
    }

    [Fact]
    public Task Ioredis_session_passes() => RunNodeSessionAsync("ioredis", "ioredis_session.js", "ioredis session OK");

    [Fact]
    public Task Node_redis_session_passes_under_resp2_and_resp3() => RunNodeSessionAsync("redis", "node_redis_session.js", "node-redis session OK");

    /// <summary>Runs a scripted session of tests/clients/node through its npm client, which scripts/test.sh installs.</summary>
    private async Task RunNodeSessionAsync(string module, string script, string done)
    {
        var dir = Path.Combine(RepoPaths.Root, "tests", "clients", "node");
        Assert.True(Directory.Exists(Path.Combine(dir, "node_modules", module)), $"{module} is not installed: run scripts/test.sh, which runs npm ci there");
        var (exit, output) = await ClientProcess.RunAsync("node", [Path.Combine(dir, script), Port]);
        Assert.True(exit == 0, output);
        Assert.Contains(done, output, StringComparison.Ordinal);
    }
}
