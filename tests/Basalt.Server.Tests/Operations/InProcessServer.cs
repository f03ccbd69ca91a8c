using Basalt.Server.Observability;
using Basalt.Testing;

namespace Basalt.Server.Tests.Operations;

/// <summary>A BasaltServer started inside the test process, with its admin port on a free loopback port.</summary>
public sealed class InProcessServer : IAsyncDisposable
{
    private readonly string _dir;

    private InProcessServer(BasaltServer server, HttpClient http, string dir)
    {
        Server = server;
        Http = http;
        _dir = dir;
    }

    public BasaltServer Server { get; }

    public HttpClient Http { get; }

    public static Task<InProcessServer> StartAsync(params string[] extra) => StartAsync(null, extra);

    /// <summary>Starts a server whose command table <paramref name="testCommands"/> extends first.</summary>
    public static async Task<InProcessServer> StartAsync(Action<Basalt.Engine.Commands.CommandTable>? testCommands, params string[] extra)
    {
        var adminPort = ServerProcess.FreePort();

        // Program creates the data dir before the server starts; the fixture does the same.
        var dir = Directory.CreateTempSubdirectory("basalt-inproc-").FullName;
        var config = new ServerConfig();
        config.ApplyArguments(["--port", "0", "--admin-port", adminPort.ToString(System.Globalization.CultureInfo.InvariantCulture), "--shards", "2", "--loglevel", "warning", "--dir", dir, "--shutdown-readiness-delay", "0", .. extra]);
        var server = new BasaltServer(config, null, testCommands);
        await server.StartAsync();
        var http = new HttpClient { BaseAddress = new Uri($"http://127.0.0.1:{adminPort}"), Timeout = TimeSpan.FromSeconds(30) };
        return new InProcessServer(server, http, dir);
    }

    public RespConnection Connect() => new(Server.Port);

    /// <summary>Waits until a loop has been inside one turn for 50 ms or more: a command sent to it (DEBUG SLEEP) is running.</summary>
    public async Task WaitUntilALoopIsBusyAsync()
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (Server.UnhealthyLoops(50).Count == 0)
        {
            Assert.True(DateTime.UtcNow < deadline, "no loop became busy");
            await Task.Delay(10);
        }
    }

    public async Task<Dictionary<string, MetricFamily>> ScrapeAsync()
    {
        using var response = await Http.GetAsync("/metrics");
        Assert.Equal(System.Net.HttpStatusCode.OK, response.StatusCode);
        Assert.Equal(PrometheusExporter.ContentType, response.Content.Headers.ContentType!.ToString());
        return ExpositionParser.Parse(await response.Content.ReadAsStringAsync());
    }

    public async ValueTask DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
        if (Directory.Exists(_dir))
        {
            Directory.Delete(_dir, recursive: true);
        }
    }
}
