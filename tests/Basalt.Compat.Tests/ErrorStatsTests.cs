using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// INFO errorstats and total_error_replies count what Redis counts: every error reply, by its code (the word after
/// the '-'), whether the command ran and failed, was rejected before running (unknown command or subcommand, wrong
/// arity, NOAUTH) or failed inside a multi-shard op. Each script runs alone after CONFIG RESETSTAT on both servers.
/// </summary>
[Collection("oracles")]
public sealed class ErrorStatsTests(Oracles oracles)
{
    public static TheoryData<string> Scripts() =>
    [
        "INCR s", "INCRBY n x", "GET", "NOSUCH a b", "OBJECT NOSUCH", "CONFIG SET hz abc", "SELECT 99", "HELLO 4",
        "SET k v EX 0", "SET k v NX XX", "MSET a", "MSETNX a 1 b", "RENAME none x", "COPY none x", "LCS s n IDX MINMATCHLEN x",
        "EXPIRE n abc", "GETEX n EX 0", "INCRBYFLOAT s 1", "SETRANGE n -1 x", "SCAN x", "CLIENT KILL ID abc", "DEBUG NOSUCH",
        "AUTH x", "GET n ; INCR s ; PING ; INCR s ; GET", "MGET a b", "SET n 1",
    ];

    [Theory]
    [MemberData(nameof(Scripts))]
    public void Error_counters_count_as_in_redis(string script)
    {
        Assert.Equal(Errors(oracles.Redis, script), Errors(oracles.Basalt, script));
    }

    private static string Errors(ServerProcess server, string script)
    {
        using var c = Differential.Open(server, 2);
        c.Call("SET", "s", "text");
        c.Call("SET", "n", "5");
        Assert.Equal("OK", c.Call("CONFIG", "RESETSTAT").Text);
        foreach (var command in script.Split(" ; "))
        {
            c.Call(command.Split(' '));
        }

        var stats = c.Call("INFO", "stats").Text!;
        var total = stats.Split("\r\n").Single(l => l.StartsWith("total_error_replies:", StringComparison.Ordinal));
        var errorstats = c.Call("INFO", "errorstats");
        Assert.Equal(RespType.BulkString, errorstats.Type);
        return total + "\n" + errorstats.Text;
    }
}
