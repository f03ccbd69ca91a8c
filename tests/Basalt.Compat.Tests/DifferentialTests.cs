using System.Text;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// Runs every script in cases/*.redis against redis-server and Basalt, under RESP2 and RESP3,
/// and compares each reply as a RESP value. Waivers are listed in docs/compatibility.md.
/// </summary>
[Collection("oracles")]
public sealed class DifferentialTests(Oracles oracles)
{
    public static TheoryData<string, int, int> Cases()
    {
        var data = new TheoryData<string, int, int>();
        foreach (var file in Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "cases"), "*.redis").Order(StringComparer.Ordinal))
        {
            foreach (var c in ScriptCase.Load(file))
            {
                foreach (var p in c.Protocols)
                {
                    data.Add(c.File, c.Line, p);
                }
            }
        }

        return data;
    }

    [Fact]
    public void There_are_at_least_300_scripts()
    {
        var scripts = Directory.GetFiles(Path.Combine(AppContext.BaseDirectory, "cases"), "*.redis").SelectMany(ScriptCase.Load).Count();
        Assert.True(scripts >= 300, $"only {scripts} differential scripts");
    }

    [Theory]
    [MemberData(nameof(Cases))]
    public void Script_replies_match_redis(string file, int line, int protocol)
    {
        var script = ScriptCase.Load(Path.Combine(AppContext.BaseDirectory, "cases", file)).Single(c => c.Line == line);
        using var redis = Differential.Open(oracles.Redis, protocol);
        using var basalt = Differential.Open(oracles.Basalt, protocol);
        foreach (var cmd in script.Commands)
        {
            var expected = redis.Call(cmd.Args);
            var actual = basalt.Call(cmd.Args);
            if (!Differential.Same(cmd.Mode, expected, actual))
            {
                Assert.Fail($"{script} RESP{protocol}\n  script: {script.Source}\n  command: {cmd.Text}\n  redis:  {expected}\n  basalt: {actual}");
            }
        }
    }
}
