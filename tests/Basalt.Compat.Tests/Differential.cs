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
        Compare.ExceptId => WithoutId(a).Equals(WithoutId(b)),
        _ => a.Equals(b),
    };

    /// <summary>
    /// A map (or a RESP2 array of field, value pairs) with the integer after an "id" field set to 0. Anything else is
    /// returned as it is, so a reply that is not such a map is compared exactly.
    /// </summary>
    private static RespValue WithoutId(RespValue v)
    {
        if (v.Items is not { } items || items.Count % 2 != 0)
        {
            return v;
        }

        var copy = items.ToList();
        for (var i = 0; i < copy.Count; i += 2)
        {
            if (copy[i].Type is RespType.BulkString or RespType.SimpleString && copy[i].Text == "id" && copy[i + 1].Type == RespType.Integer)
            {
                copy[i + 1] = new RespValue { Type = RespType.Integer, Integer = 0 };
            }
        }

        return new RespValue { Type = v.Type, Items = copy };
    }

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
