using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>One Basalt process with 4 shards, shared by the tests of a collection.</summary>
public sealed class BasaltFixture : IDisposable
{
    public const int ShardCount = 4;

    public ServerProcess Server { get; } = ServerProcess.StartBasalt("--shards", ShardCount.ToString(System.Globalization.CultureInfo.InvariantCulture));

    public int Shards => ShardCount;

    public RespConnection Connect() => Server.Connect();

    public void Dispose() => Server.Dispose();
}

[CollectionDefinition("basalt")]
public sealed class BasaltCollection : ICollectionFixture<BasaltFixture>;
