using System.Globalization;
using System.Net;
using System.Text;
using Basalt.Server.Observability;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Http;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace Basalt.Server.Admin;

/// <summary>
/// The admin HTTP port (ASP.NET Core minimal APIs on Kestrel): /healthz, /readyz and /metrics. It runs
/// on the thread pool, never on a shard loop, and reads loop state only through what loops publish.
/// </summary>
internal sealed class AdminServer : IAsyncDisposable
{
    /// <summary>What /readyz tells a prober to wait before asking again.</summary>
    public const int RetryAfterSeconds = 1;

    private static readonly TimeSpan GaugeWait = TimeSpan.FromSeconds(1);

    // How long a stop waits for requests in flight on this port. Without a bound, the host's own 30 s default applied,
    // so a prober that sent half a request held the whole stop for 30 s, past shutdown-timeout.
    private static readonly TimeSpan StopWait = TimeSpan.FromSeconds(2);

    private readonly WebApplication _app;

    private AdminServer(WebApplication app, int port)
    {
        _app = app;
        Port = port;
    }

    public int Port { get; }

    public static async Task<AdminServer> StartAsync(BasaltServer server, IPAddress address, int port)
    {
        // The empty builder: no appsettings.json, no environment or command-line host settings, no file
        // watcher. A default host reads appsettings.json from the working directory and watches that
        // directory recursively, so it would wake on every file written under ./data and let a stray
        // settings file open listeners. This port is configured by Basalt's settings alone.
        var builder = WebApplication.CreateEmptyBuilder(new WebApplicationOptions());
        builder.WebHost.UseKestrelCore().ConfigureKestrel(o =>
        {
            o.Listen(address, port);

            // Bounded like everything else: probes and scrapers need a handful, and the descriptors
            // are counted out of the open files limit (OpenFilesLimit).
            o.Limits.MaxConcurrentConnections = OpenFilesLimit.AdminConnections;
        });
        builder.Services.AddRoutingCore();
        builder.Logging.ClearProviders();
        LogSetup.AddConsole(builder.Logging);
        builder.Logging.AddFilter("Microsoft", Microsoft.Extensions.Logging.LogLevel.Warning);

        // A port that can't be bound fails StartAsync, and the server reports that in one line (ListenException);
        // the host would log the same failure again first, as a stack trace.
        builder.Logging.AddFilter("Microsoft.Extensions.Hosting", Microsoft.Extensions.Logging.LogLevel.None);

        // The server owns SIGTERM: the host must not stop this port on its own, or /readyz would
        // vanish instead of answering 503 while connections drain.
        builder.Services.AddSingleton<IHostLifetime, ServerOwnedLifetime>();
        var app = builder.Build();
        app.MapGet("/healthz", (HttpContext ctx) => HealthzAsync(server, ctx));
        app.MapGet("/readyz", (HttpContext ctx) => ReadyzAsync(server, ctx));
        app.MapGet("/metrics", (HttpContext ctx) => MetricsAsync(server, ctx));
        await app.StartAsync().ConfigureAwait(false);
        return new AdminServer(app, port);
    }

    public async ValueTask DisposeAsync()
    {
        using (var wait = new CancellationTokenSource(StopWait))
        {
            await _app.StopAsync(wait.Token).ConfigureAwait(false);
        }

        await _app.DisposeAsync().ConfigureAwait(false);
    }

    private static Task HealthzAsync(BasaltServer server, HttpContext ctx)
    {
        var stuck = server.UnhealthyLoops(BasaltServer.UnresponsiveAfterMs);
        var sb = new StringBuilder();
        sb.Append("{\"status\":\"").Append(stuck.Count == 0 ? "ok" : "unresponsive").Append("\",\"shards\":").Append(server.Loops.Length);
        if (stuck.Count > 0)
        {
            sb.Append(",\"unresponsive\":[");
            for (var i = 0; i < stuck.Count; i++)
            {
                var field = stuck[i].LostWakeup ? "lost_wakeup_ms" : "busy_ms";
                sb.Append(i == 0 ? string.Empty : ",").Append(CultureInfo.InvariantCulture, $"{{\"loop\":\"shard-{stuck[i].Shard}\",\"{field}\":{stuck[i].Ms}}}");
            }

            sb.Append(']');
        }

        sb.Append('}');
        ctx.Response.StatusCode = stuck.Count == 0 ? 200 : 503;
        ctx.Response.ContentType = "application/json";
        return ctx.Response.WriteAsync(sb.ToString());
    }

    private static Task ReadyzAsync(BasaltServer server, HttpContext ctx)
    {
        var ready = server.Readiness.IsReady;
        ctx.Response.StatusCode = ready ? 200 : 503;
        ctx.Response.ContentType = "application/json";
        if (!ready)
        {
            ctx.Response.Headers.RetryAfter = RetryAfterSeconds.ToString(CultureInfo.InvariantCulture);
        }

        return ctx.Response.WriteAsync(server.Readiness.ToJson(RetryAfterSeconds));
    }

    private static async Task MetricsAsync(BasaltServer server, HttpContext ctx)
    {
        await server.PublishGaugesAsync(GaugeWait).ConfigureAwait(false);
        var text = server.Exporter!.Scrape();
        ctx.Response.ContentType = PrometheusExporter.ContentType;
        await ctx.Response.WriteAsync(text).ConfigureAwait(false);
    }

    private sealed class ServerOwnedLifetime : IHostLifetime
    {
        public Task WaitForStartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}
