namespace Basalt.Server.Tests;

/// <summary>A scripted session through the real redis-py client, run with Debian's python3 (/usr/bin/python3).</summary>
[Collection("basalt")]
public sealed class RedisPyTests(BasaltFixture fixture)
{
    [Fact]
    public async Task Redis_py_session_passes()
    {
        const string Python = "/usr/bin/python3";
        Assert.True(File.Exists(Python), "Debian's python3 is required (scripts/test.sh installs python3-redis)");
        var script = Path.Combine(AppContext.BaseDirectory, "clients", "redis_py_session.py");
        var (exit, output) = await ClientProcess.RunAsync(Python, [script, fixture.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture)]);
        Assert.True(exit == 0, output);
        Assert.Contains("redis-py session OK", output, StringComparison.Ordinal);
    }
}
