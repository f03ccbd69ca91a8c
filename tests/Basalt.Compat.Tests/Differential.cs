using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>What the differential tests share: a clean connection under one protocol, and the reply comparison.</summary>
internal static class Differential
{
    public static RespConnection Open(ServerProcess server, int protocol)
    {
        var c = server.Connect();
        Assert.Equal(RespType.SimpleString, c.Call("FLUSHALL").Type);
        if (protocol == 3)
        {
            Assert.Equal(RespType.Map, c.Call("HELLO", "3").Type);
        }

        return c;
    }

    public static bool Same(Compare mode, RespValue a, RespValue b) => mode switch
    {
        Compare.Sorted => Sorted(a).Equals(Sorted(b)),
        Compare.Shape => SameShape(a, b),
        _ => a.Equals(b),
    };

    /// <summary>Every array at every depth as a multiset (SCAN's key list sits inside its reply).</summary>
    private static RespValue Sorted(RespValue v) => v.Items is null
        ? v
        : new RespValue { Type = v.Type, Items = v.Items.Select(Sorted).OrderBy(i => i.ToString(), StringComparer.Ordinal).ToList() };

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
