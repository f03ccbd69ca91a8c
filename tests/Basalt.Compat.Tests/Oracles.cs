using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// One redis-server 7.0 and one Basalt (4 shards, so scripts cross shards) for the whole run. DEBUG is enabled on both,
/// so a script can let time pass (DEBUG SLEEP) where idle times and expiry are compared.
/// </summary>
public sealed class Oracles : IDisposable
{
    public Oracles()
    {
        Redis = ServerProcess.StartRedis("--enable-debug-command", "yes");
        Basalt = ServerProcess.StartBasalt("--shards", "4", "--enable-debug-command", "yes");
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
