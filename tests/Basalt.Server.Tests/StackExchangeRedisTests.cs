using System.Globalization;
using StackExchange.Redis;

namespace Basalt.Server.Tests;

/// <summary>
/// StackExchange.Redis, the .NET client, against Basalt under RESP2 and RESP3. On connect it runs its own
/// handshake (HELLO or CLIENT/CONFIG GET/INFO, a tie-breaker GET, ECHO) and opens a second connection for
/// subscriptions; it must come up as a standalone primary and then serve a session of the commands built so far.
/// </summary>
[Collection("basalt")]
public sealed class StackExchangeRedisTests(BasaltFixture fixture)
{
    [Theory]
    [InlineData(RedisProtocol.Resp2)]
    [InlineData(RedisProtocol.Resp3)]
    public async Task A_session_through_stackexchange_redis_passes(RedisProtocol protocol)
    {
        var endpoint = $"127.0.0.1:{fixture.Server.Port.ToString(CultureInfo.InvariantCulture)}";
        var options = ConfigurationOptions.Parse(endpoint);
        options.AbortOnConnectFail = true;
        options.Protocol = protocol;
        options.ConnectTimeout = 10_000;
        using var log = new StringWriter();
        await using var mux = await ConnectionMultiplexer.ConnectAsync(options, log);
        Assert.True(mux.IsConnected, log.ToString());
        var server = mux.GetServer(endpoint);
        Assert.Equal(ServerType.Standalone, server.ServerType);
        Assert.False(server.IsReplica);
        Assert.Equal(16, server.DatabaseCount);

        var p = $"se{(int)protocol}:";
        var db = mux.GetDatabase();
        Assert.True(await db.StringSetAsync(p + "k", "v"));
        Assert.Equal("v", (string?)await db.StringGetAsync(p + "k"));
        Assert.False(await db.StringSetAsync(p + "k", "w", when: When.NotExists));
        Assert.Equal("v", (string?)await db.StringSetAndGetAsync(p + "k", "w"));
        Assert.Equal(5, await db.StringIncrementAsync(p + "n", 5));
        Assert.Equal(1.5, await db.StringIncrementAsync(p + "f", 1.5));
        Assert.True(await db.KeyExpireAsync(p + "k", TimeSpan.FromSeconds(100)));
        var ttl = await db.KeyTimeToLiveAsync(p + "k");
        Assert.InRange(ttl!.Value.TotalSeconds, 95, 100);
        Assert.True(await db.StringSetAsync([new(p + "a", "1"), new(p + "b", "2"), new("{" + p + "}c", "3")]));
        var values = await db.StringGetAsync([p + "a", p + "b", "{" + p + "}c", p + "none"]);
        Assert.Equal(["1", "2", "3", null], values.Select(v => (string?)v));
        Assert.Equal(2, await db.KeyDeleteAsync([p + "a", p + "b", p + "none"]));
        Assert.True(await db.KeyRenameAsync("{" + p + "}c", p + "c2"));
        Assert.Equal(RedisType.String, await db.KeyTypeAsync(p + "c2"));
        Assert.Equal(4, await db.StringAppendAsync(p + "k", "xyz"));
        Assert.Equal("wx", (string?)await db.StringGetRangeAsync(p + "k", 0, 1));
        Assert.Equal("PONG", (await db.ExecuteAsync("PING")).ToString());

        // Many commands in flight on one connection: the replies must come back in order.
        var batch = db.CreateBatch();
        var sets = new List<Task<bool>>();
        var gets = new List<Task<RedisValue>>();
        for (var i = 0; i < 300; i++)
        {
            sets.Add(batch.StringSetAsync($"{p}p:{i}", i));
            gets.Add(batch.StringGetAsync($"{p}p:{i}"));
        }

        batch.Execute();
        Assert.All(await Task.WhenAll(sets), Assert.True);
        var got = await Task.WhenAll(gets);
        Assert.Equal(Enumerable.Range(0, 300).Select(i => (RedisValue)i), got);

        // server.Keys walks SCAN over every shard to the end.
        var keys = 0;
        await foreach (var _ in server.KeysAsync(pattern: p + "p:*", pageSize: 50))
        {
            keys++;
        }

        Assert.Equal(300, keys);

        var error = await Assert.ThrowsAsync<RedisServerException>(() => db.StringIncrementAsync(p + "k"));
        Assert.Equal("ERR value is not an integer or out of range", error.Message);
    }
}
