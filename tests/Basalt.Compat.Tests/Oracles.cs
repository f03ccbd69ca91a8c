using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>One redis-server 7.0 and one Basalt (4 shards, so scripts cross shards) for the whole run.</summary>
public sealed class Oracles : IDisposable
{
    public Oracles()
    {
        Redis = ServerProcess.StartRedis();
        Basalt = ServerProcess.StartBasalt("--shards", "4");
    }

    public ServerProcess Redis { get; }

    public ServerProcess Basalt { get; }

    public void Dispose()
    {
        Redis.Dispose();
        Basalt.Dispose();
    }
}

[CollectionDefinition("oracles")]
public sealed class OraclesCollection : ICollectionFixture<Oracles>;
