using System.Text;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// INFO's keyspace_hits and keyspace_misses, which monitoring turns into a hit ratio, count what Redis counts: every
/// lookup made to read a key (GET, MGET, EXISTS, TYPE, TTL, OBJECT, COPY's source, SET … GET), and none made to write
/// one (SET, INCR, APPEND, DEL, RENAME, EXPIRE). expired_keys counts keys that expired, not keys an EXPIRE, PEXPIREAT
/// or GETEX with a time already past deleted (Redis deletes those as DEL does). Each command runs alone after
/// CONFIG RESETSTAT on both servers.
/// </summary>
[Collection("oracles")]
public sealed class KeyspaceStatsTests(Oracles oracles)
{
    public static TheoryData<string> Commands() =>
    [
        "GET k", "GET nx", "MGET k nx k2", "EXISTS k nx", "TOUCH k nx", "TYPE k", "TYPE nx", "TTL k", "PTTL nx",
        "EXPIRETIME k", "PEXPIRETIME nx", "STRLEN k", "GETRANGE k 0 1", "SUBSTR nx 0 1", "GETSET k v", "GETDEL k",
        "GETDEL nx", "GETEX k", "GETEX nx EX 100", "SET k v", "SET k v GET", "SET nx v GET", "SET k v NX", "SETNX k v",
        "SETEX k 100 v", "APPEND k x", "SETRANGE k 0 x", "INCR n", "INCRBY n 2", "INCRBYFLOAT n 1.5", "DECR nx",
        "MSET k 1 k2 2", "MSETNX k 1 q 2", "OBJECT ENCODING k", "OBJECT ENCODING nx", "OBJECT REFCOUNT k",
        "OBJECT IDLETIME k", "COPY k c2", "COPY nx c2", "DEL k nx", "UNLINK k", "RENAME k r", "RENAMENX k r",
        "MOVE k 1", "EXPIRE k 100", "PERSIST k", "LCS k k2", "KEYS *", "SCAN 0", "SCAN 0 TYPE string", "SCAN 0 MATCH k* TYPE none", "DBSIZE", "RANDOMKEY",
        "EXPIRE k 0", "PEXPIRE k -1", "EXPIREAT k 100", "PEXPIREAT k 100000", "GETEX k PXAT 100000",
    ];

    [Theory]
    [MemberData(nameof(Commands))]
    public void Keyspace_counters_count_as_in_redis(string command)
    {
        Assert.Equal(Counts(oracles.Redis, command), Counts(oracles.Basalt, command));
    }

    private static (long Hits, long Misses, long Expired) Counts(ServerProcess server, string command)
    {
        using var c = Differential.Open(server, 2);
        c.Call("SET", "k", "5");
        c.Call("SET", "k2", "6");
        c.Call("SET", "n", "1");
        Assert.Equal("OK", c.Call("CONFIG", "RESETSTAT").Text);
        var reply = c.Call(command.Split(' '));
        Assert.NotEqual(RespType.Error, reply.Type);
        var info = c.Call("INFO", "stats").Text;
        return (Field(info, "keyspace_hits"), Field(info, "keyspace_misses"), Field(info, "expired_keys"));
    }

    private static long Field(string info, string name)
    {
        foreach (var line in info.Split("\r\n"))
        {
            if (line.StartsWith(name + ":", StringComparison.Ordinal))
            {
                return long.Parse(line.AsSpan(name.Length + 1), System.Globalization.CultureInfo.InvariantCulture);
            }
        }

        Assert.Fail($"INFO has no {name}: {Encoding.UTF8.GetByteCount(info)} bytes");
        return -1;
    }
}
