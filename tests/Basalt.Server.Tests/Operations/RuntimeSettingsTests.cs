using System.Text.Json;
using Basalt.Testing;

namespace Basalt.Server.Tests.Operations;

/// <summary>
/// The runtime settings the benchmarks were measured under ship with the server: its runtimeconfig.json is what
/// `dotnet basalt-server.dll` reads at start (docs/benchmarks.md, "Garbage collection" and "JIT tiering").
/// </summary>
public sealed class RuntimeSettingsTests
{
    [Theory]
    [InlineData("System.GC.Server", true)]
    [InlineData("System.GC.Concurrent", true)]
    [InlineData("System.Runtime.TieredCompilation", false)]
    public void The_server_ships_the_measured_runtime_settings(string property, bool expected)
    {
        var path = Path.ChangeExtension(RepoPaths.ServerDll, ".runtimeconfig.json");
        using var doc = JsonDocument.Parse(File.ReadAllText(path));
        var props = doc.RootElement.GetProperty("runtimeOptions").GetProperty("configProperties");
        Assert.True(props.TryGetProperty(property, out var value), $"{property} is missing from {path}");
        Assert.Equal(expected, value.GetBoolean());
    }
}
