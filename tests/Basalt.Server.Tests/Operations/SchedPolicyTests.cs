using System.Globalization;
using Basalt.Testing;

namespace Basalt.Server.Tests.Operations;

/// <summary>shard-sched-policy: each shard loop thread of a real server process runs under the chosen Linux policy.</summary>
public sealed class SchedPolicyTests
{
    private const int SchedOther = 0;
    private const int SchedBatch = 3;

    [Theory]
    [InlineData(null, SchedBatch, "batch")]
    [InlineData("batch", SchedBatch, "batch")]
    [InlineData("normal", SchedOther, "normal")]
    public void Every_shard_loop_runs_under_the_configured_policy(string? policy, int expected, string reported)
    {
        string[] args = policy is null ? ["--shards", "3"] : ["--shards", "3", "--shard-sched-policy", policy];
        using var server = ServerProcess.StartBasalt(args);
        using var c = server.Connect();

        // A command on every shard shows each loop is past its start, where it sets the policy.
        for (var i = 0; i < 32; i++)
        {
            Assert.Equal("OK", c.Call("SET", $"k{i}", "v").Text);
        }

        // Thread name -> policy. Runtime thread names repeat (the last one wins); the basalt-* names are unique.
        var policies = new Dictionary<string, int>();
        foreach (var task in Directory.GetDirectories($"/proc/{server.Pid}/task"))
        {
            policies[File.ReadAllText(Path.Combine(task, "comm")).Trim()] = PolicyOf(File.ReadAllText(Path.Combine(task, "stat")));
        }

        var loops = policies.Keys.Where(n => n.StartsWith("basalt-shard-", StringComparison.Ordinal)).Order();
        Assert.Equal(["basalt-shard-0", "basalt-shard-1", "basalt-shard-2"], loops);
        Assert.All(loops, n => Assert.Equal(expected, policies[n]));

        // Other threads keep the default policy: the setting is about the loops alone.
        Assert.Equal(SchedOther, policies["basalt-accept"]);

        var got = c.Call("CONFIG", "GET", "shard-sched-policy");
        Assert.Equal(["shard-sched-policy", reported], got.Items!.Select(i => i.Text));
    }

    [Fact]
    public void The_policy_is_fixed_at_startup_and_checked()
    {
        var config = new ServerConfig();
        var ex = Assert.Throws<ConfigException>(() => config.ApplyArguments(["--shard-sched-policy", "fifo"]));
        Assert.Contains("batch, normal", ex.Message, StringComparison.Ordinal);

        using var server = ServerProcess.StartBasalt("--shards", "1");
        using var c = server.Connect();
        Assert.Equal("ERR CONFIG SET failed (possibly related to argument 'shard-sched-policy') - can't set immutable config", c.Call("CONFIG", "SET", "shard-sched-policy", "normal").Text);
    }

    /// <summary>Field 41 of /proc/[pid]/task/[tid]/stat, counted after the ")" that closes the thread name.</summary>
    private static int PolicyOf(string stat)
    {
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return int.Parse(fields[41 - 3], CultureInfo.InvariantCulture);
    }
}
