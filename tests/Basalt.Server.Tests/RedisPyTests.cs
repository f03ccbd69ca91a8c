using System.Diagnostics;

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
        var psi = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(fixture.Server.Port.ToString(System.Globalization.CultureInfo.InvariantCulture));
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await p.WaitForExitAsync(timeout.Token);
        var output = await stdout + await stderr;
        Assert.True(p.ExitCode == 0, output);
        Assert.Contains("redis-py session OK", output, StringComparison.Ordinal);
    }
}
