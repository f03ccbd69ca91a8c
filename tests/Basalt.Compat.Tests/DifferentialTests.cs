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
        using var redis = Open(oracles.Redis, protocol);
        using var basalt = Open(oracles.Basalt, protocol);
        foreach (var cmd in script.Commands)
        {
            var expected = redis.Call(cmd.Args);
            var actual = basalt.Call(cmd.Args);
            if (!Same(cmd.Mode, expected, actual))
            {
                Assert.Fail($"{script} RESP{protocol}\n  script: {script.Source}\n  command: {cmd.Text}\n  redis:  {expected}\n  basalt: {actual}");
            }
        }
    }

    private static RespConnection Open(ServerProcess server, int protocol)
    {
        var c = server.Connect();
        Assert.Equal(RespType.SimpleString, c.Call("FLUSHALL").Type);
        if (protocol == 3)
        {
            Assert.Equal(RespType.Map, c.Call("HELLO", "3").Type);
        }

        return c;
    }

    private static bool Same(Compare mode, RespValue a, RespValue b) => mode switch
    {
        Compare.Sorted => Sorted(a).Equals(Sorted(b)),
        Compare.Shape => SameShape(a, b),
        _ => a.Equals(b),
    };

    private static RespValue Sorted(RespValue v) => v.Items is null
        ? v
        : new RespValue { Type = v.Type, Items = v.Items.OrderBy(i => i.ToString(), StringComparer.Ordinal).ToList() };

    private static bool SameShape(RespValue a, RespValue b)
    {
        if (a.Type != b.Type || a.IsNull != b.IsNull || (a.Items?.Count ?? -1) != (b.Items?.Count ?? -1))
        {
            return false;
        }

        for (var i = 0; i < (a.Items?.Count ?? 0); i++)
        {
            if (!SameShape(a.Items![i], b.Items![i]))
            {
                return false;
            }
        }

        return true;
    }
}
