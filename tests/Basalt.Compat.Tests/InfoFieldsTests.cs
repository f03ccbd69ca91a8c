using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// INFO's layout follows Redis 7.0's: Basalt's sections come in Redis's order, and each section's fields are Redis's
/// fields, in Redis's order (Basalt leaves out what it can't fill truthfully, and adds a few of its own). Tools read
/// INFO by name, and a field they expect but don't find reads as garbage: redis-cli --stat printed
/// -9223372036854775808 blocked clients before blocked_clients was there.
/// </summary>
[Collection("oracles")]
public sealed class InfoFieldsTests(Oracles oracles)
{
    /// <summary>Fields only Basalt has.</summary>
    private static readonly HashSet<string> BasaltOnly = ["basalt_version", "runtime", "shards"];

    [Theory]
    [InlineData("default")]
    [InlineData("everything")]
    public void Sections_and_fields_are_redis_s_in_redis_s_order(string which)
    {
        var redis = Layout(oracles.Redis, which);
        var basalt = Layout(oracles.Basalt, which);

        AssertSubsequence(redis.Select(s => s.Name).ToList(), basalt.Select(s => s.Name).ToList(), "sections");

        // A section dropped would still be a subsequence: the ones Basalt fills are named. It leaves out Modules (it has
        // none) and Latencystats (it keeps no per-command percentiles), and INFO without an argument leaves out
        // Commandstats, as Redis's does.
        string[] ours = which == "everything"
            ? ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Commandstats", "Errorstats", "Cluster", "Keyspace"]
            : ["Server", "Clients", "Memory", "Persistence", "Stats", "Replication", "CPU", "Errorstats", "Cluster", "Keyspace"];
        Assert.Equal(ours, basalt.Select(s => s.Name));
        foreach (var (name, fields) in basalt)
        {
            var theirs = redis.Single(s => s.Name == name).Fields;
            AssertSubsequence(theirs, fields.Where(f => !BasaltOnly.Contains(f)).ToList(), $"section {name}");
        }
    }

    [Fact]
    public void The_fields_tools_poll_are_present()
    {
        var basalt = Layout(oracles.Basalt, "default").SelectMany(s => s.Fields).ToHashSet();
        string[] polled =
        [
            "redis_version", "run_id", "connected_clients", "blocked_clients", "used_memory", "loading",
            "rdb_bgsave_in_progress", "aof_rewrite_in_progress", "total_connections_received", "total_commands_processed",
            "role", "used_cpu_sys", "cluster_enabled",
        ];
        Assert.All(polled, f => Assert.Contains(f, basalt));
    }

    [Fact]
    public void Section_names_end_at_a_NUL_and_os_is_what_uname_says()
    {
        Assert.Equal(["CPU"], Layout(oracles.Redis, "cpu\0x").Select(s => s.Name));
        Assert.Equal(["CPU"], Layout(oracles.Basalt, "cpu\0x").Select(s => s.Name));
        Assert.Equal(Os(oracles.Redis), Os(oracles.Basalt));

        static string Os(ServerProcess server)
        {
            using var c = Differential.Open(server, 2);
            return c.Call("INFO", "server").Text!.Split("\r\n").Single(l => l.StartsWith("os:", StringComparison.Ordinal));
        }
    }

    private static List<(string Name, List<string> Fields)> Layout(ServerProcess server, string which)
    {
        using var c = Differential.Open(server, 2);
        c.Call("SET", "k", "v");
        var text = c.Call("INFO", which).Text!;
        var sections = new List<(string, List<string>)>();
        foreach (var line in text.Split("\r\n"))
        {
            if (line.StartsWith("# ", StringComparison.Ordinal))
            {
                sections.Add((line[2..], []));
            }
            else if (line.Length > 0 && !line.StartsWith("cmdstat_", StringComparison.Ordinal))
            {
                sections[^1].Item2.Add(line[..line.IndexOf(':', StringComparison.Ordinal)]);
            }
        }

        return sections;
    }

    /// <summary>Every item of <paramref name="ours"/> is in <paramref name="theirs"/>, in the same relative order.</summary>
    private static void AssertSubsequence(List<string> theirs, List<string> ours, string what)
    {
        var at = 0;
        foreach (var item in ours)
        {
            var found = theirs.IndexOf(item, at);
            Assert.True(found >= 0, $"{what}: '{item}' is not in Redis's list after position {at}: {string.Join(", ", theirs)}");
            at = found + 1;
        }
    }
}
