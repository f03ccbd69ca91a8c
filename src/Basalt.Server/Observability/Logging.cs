using Microsoft.Extensions.Logging;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging.Console;

namespace Basalt.Server.Observability;

/// <summary>Redis's log levels, as loglevel takes them.</summary>
public enum LogLevel
{
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// <summary>
/// Console logging through Microsoft.Extensions.Logging. The threshold is read on every log call, so
/// CONFIG SET loglevel takes effect at once; ASP.NET's own categories log warnings and worse only.
/// </summary>
public sealed class LogSetup : IDisposable
{
    private volatile int _threshold;

    public LogSetup(LogLevel level)
    {
        Level = level;
        Factory = LoggerFactory.Create(b =>
        {
            b.SetMinimumLevel(Microsoft.Extensions.Logging.LogLevel.Trace);
            b.AddFilter((category, l) => category == StartupCategory || ((int)l >= _threshold && (category is null || !category.StartsWith("Microsoft.", StringComparison.Ordinal) || l >= Microsoft.Extensions.Logging.LogLevel.Warning)));
            AddConsole(b);
        });
        Server = Factory.CreateLogger("basalt");
        Startup = Factory.CreateLogger(StartupCategory);
    }

    /// <summary>
    /// The banner and the ready line are written at every loglevel (Redis logs its version line at
    /// warning level for the same reason): operators and supervisors look for them.
    /// </summary>
    public const string StartupCategory = "basalt.startup";

    public ILoggerFactory Factory { get; }

    public ILogger Server { get; }

    public ILogger Startup { get; }

    public LogLevel Level
    {
        get => (Microsoft.Extensions.Logging.LogLevel)_threshold switch
        {
            Microsoft.Extensions.Logging.LogLevel.Trace => LogLevel.Debug,
            Microsoft.Extensions.Logging.LogLevel.Debug => LogLevel.Verbose,
            Microsoft.Extensions.Logging.LogLevel.Information => LogLevel.Notice,
            _ => LogLevel.Warning,
        };
        set => _threshold = (int)ToExtensionsLevel(value);
    }

    /// <summary>Redis debug/verbose/notice/warning onto the Microsoft.Extensions.Logging scale.</summary>
    public static Microsoft.Extensions.Logging.LogLevel ToExtensionsLevel(LogLevel level) => level switch
    {
        LogLevel.Debug => Microsoft.Extensions.Logging.LogLevel.Trace,
        LogLevel.Verbose => Microsoft.Extensions.Logging.LogLevel.Debug,
        LogLevel.Notice => Microsoft.Extensions.Logging.LogLevel.Information,
        _ => Microsoft.Extensions.Logging.LogLevel.Warning,
    };

    /// <summary>
    /// The console sink every logger of the process uses. Its queue is bounded (2,500 lines) and, when full,
    /// drops lines instead of blocking the caller: a shard loop that logs while stdout is a pipe nobody reads
    /// must go on serving. The logger writes how many lines it dropped ahead of the next line it logs once there is room.
    /// </summary>
    public static void AddConsole(ILoggingBuilder b)
    {
        b.AddSimpleConsole(ConfigureConsole);
        b.Services.Configure<ConsoleLoggerOptions>(o =>
        {
            o.QueueFullMode = ConsoleLoggerQueueFullMode.DropWrite;
            o.MaxQueueLength = 2500;
        });
    }

    /// <summary>One line per entry with a UTC timestamp: greppable, and what container log collectors expect.</summary>
    private static void ConfigureConsole(SimpleConsoleFormatterOptions o)
    {
        o.SingleLine = true;
        o.UseUtcTimestamp = true;
        o.TimestampFormat = "yyyy-MM-dd HH:mm:ss.fff ";
        o.IncludeScopes = false;
    }

    /// <summary>Flushes the console queue: log lines written just before exit are not lost.</summary>
    public void Dispose() => Factory.Dispose();
}

/// <summary>Every log line the server writes, in one place (source-generated, no allocation when filtered out).</summary>
internal static partial class LogMessages
{
    [LoggerMessage(1, Microsoft.Extensions.Logging.LogLevel.Information, "Basalt {Version} (redis {RedisVersion} compatible) pid={Pid} port={Port} admin-port={AdminPort} shards={Shards} dir={Dir} config={ConfigFile}")]
    public static partial void Banner(this ILogger log, string version, string redisVersion, int pid, int port, string adminPort, int shards, string dir, string configFile);

    [LoggerMessage(2, Microsoft.Extensions.Logging.LogLevel.Information, "Ready to accept connections tcp")]
    public static partial void Ready(this ILogger log);

    [LoggerMessage(3, Microsoft.Extensions.Logging.LogLevel.Critical, "Could not listen on {Bind}:{Port}: {Reason}")]
    public static partial void ListenFailed(this ILogger log, string bind, int port, string reason);

    [LoggerMessage(4, Microsoft.Extensions.Logging.LogLevel.Information, "Received {Signal}, scheduling shutdown...")]
    public static partial void SignalReceived(this ILogger log, string signal);

    [LoggerMessage(5, Microsoft.Extensions.Logging.LogLevel.Information, "User requested shutdown...")]
    public static partial void ShutdownRequested(this ILogger log);

    [LoggerMessage(31, Microsoft.Extensions.Logging.LogLevel.Warning, "SHUTDOWN SAVE: there are no snapshots to save yet (durability is not built). Force: {Force}; without FORCE the server keeps running")]
    public static partial void ShutdownSaveRefused(this ILogger log, bool force);

    [LoggerMessage(6, Microsoft.Extensions.Logging.LogLevel.Information, "Basalt is now ready to exit, bye bye...")]
    public static partial void Exiting(this ILogger log);

    [LoggerMessage(7, Microsoft.Extensions.Logging.LogLevel.Warning, "Shutdown: {Count} client(s) still had work in flight after {Seconds} s; closing them")]
    public static partial void DrainTimedOut(this ILogger log, int count, int seconds);

    [LoggerMessage(8, Microsoft.Extensions.Logging.LogLevel.Warning, "Shard {Shard} did not stop within 5 s; leaving its connections to process exit")]
    public static partial void LoopDidNotStop(this ILogger log, int shard);

    [LoggerMessage(9, Microsoft.Extensions.Logging.LogLevel.Warning, "Accept failed: {Reason}")]
    public static partial void AcceptFailed(this ILogger log, string reason);

    [LoggerMessage(10, Microsoft.Extensions.Logging.LogLevel.Error, "Command {Command} failed on shard {Shard}")]
    public static partial void CommandFailed(this ILogger log, Exception ex, string command, int shard);

    [LoggerMessage(11, Microsoft.Extensions.Logging.LogLevel.Critical, "Shard {Shard} loop crashed")]
    public static partial void LoopCrashed(this ILogger log, Exception ex, int shard);

    [LoggerMessage(12, Microsoft.Extensions.Logging.LogLevel.Error, "Connection {Client} failed")]
    public static partial void ConnectionFailed(this ILogger log, Exception ex, long client);

    [LoggerMessage(13, Microsoft.Extensions.Logging.LogLevel.Error, "Shard {Shard} work item failed")]
    public static partial void WorkFailed(this ILogger log, Exception ex, int shard);

    [LoggerMessage(14, Microsoft.Extensions.Logging.LogLevel.Warning, "Closing client {Client}: {Reason}")]
    public static partial void ClientOverLimit(this ILogger log, long client, string reason);

    [LoggerMessage(15, Microsoft.Extensions.Logging.LogLevel.Debug, "Closing client {Client}: {Reason}")]
    public static partial void ClientClosed(this ILogger log, long client, string reason);

    [LoggerMessage(16, Microsoft.Extensions.Logging.LogLevel.Information, "CONFIG REWRITE executed with success: {Path}")]
    public static partial void ConfigRewritten(this ILogger log, string path);

    [LoggerMessage(17, Microsoft.Extensions.Logging.LogLevel.Warning, "CONFIG REWRITE failed for {Path}: {Reason}")]
    public static partial void ConfigRewriteFailed(this ILogger log, string path, string reason);

    [LoggerMessage(18, Microsoft.Extensions.Logging.LogLevel.Information, "Admin HTTP listening on http://{Address}:{Port} (/healthz /readyz /metrics)")]
    public static partial void AdminListening(this ILogger log, string address, int port);

    [LoggerMessage(19, Microsoft.Extensions.Logging.LogLevel.Information, "Readiness: gate '{Gate}' holds")]
    public static partial void GateSet(this ILogger log, string gate);

    [LoggerMessage(20, Microsoft.Extensions.Logging.LogLevel.Information, "Shutdown: RESP listener closed; draining {Clients} client(s)")]
    public static partial void Draining(this ILogger log, int clients);

    [LoggerMessage(21, Microsoft.Extensions.Logging.LogLevel.Information, "Test hook: holding the listener until a line arrives on stdin")]
    public static partial void HoldingListener(this ILogger log);

    [LoggerMessage(22, Microsoft.Extensions.Logging.LogLevel.Information, "Shutdown: readiness is now 503; the RESP listener closes in {DelayMs} ms")]
    public static partial void ReadinessOff(this ILogger log, int delayMs);

    [LoggerMessage(23, Microsoft.Extensions.Logging.LogLevel.Warning, "Shard {Shard}: could not set scheduling policy {Policy} (errno {Errno}); the loop runs under the thread's inherited policy")]
    public static partial void SchedPolicyFailed(this ILogger log, int shard, string policy, int errno);

    [LoggerMessage(24, Microsoft.Extensions.Logging.LogLevel.Warning, "You requested maxclients of {Requested} requiring at least {Needed} max file descriptors. Current maximum open files is {Limit}. maxclients has been reduced to {MaxClients} to compensate for low ulimit. If you need higher maxclients increase 'ulimit -n'.")]
    public static partial void MaxClientsReduced(this ILogger log, int requested, ulong needed, ulong limit, int maxClients);

    [LoggerMessage(25, Microsoft.Extensions.Logging.LogLevel.Warning, "Out of file descriptors (ulimit -n): new clients are refused with the maxclients error until descriptors are freed")]
    public static partial void OutOfDescriptors(this ILogger log);

    [LoggerMessage(26, Microsoft.Extensions.Logging.LogLevel.Information, "Test hook: holding {Count} descriptors")]
    public static partial void HoldingDescriptors(this ILogger log, int count);

    [LoggerMessage(27, Microsoft.Extensions.Logging.LogLevel.Warning, "The accept thread did not leave within 5 s of the listener closing")]
    public static partial void AcceptThreadStuck(this ILogger log);

    [LoggerMessage(28, Microsoft.Extensions.Logging.LogLevel.Warning, "The TCP backlog setting of {Backlog} cannot be enforced because /proc/sys/net/core/somaxconn is set to the lower value of {Somaxconn}.")]
    public static partial void BacklogCapped(this ILogger log, int backlog, int somaxconn);

    [LoggerMessage(29, Microsoft.Extensions.Logging.LogLevel.Error, "A new client was refused: {Reason}")]
    public static partial void AdmitFailed(this ILogger log, string reason);

    [LoggerMessage(30, Microsoft.Extensions.Logging.LogLevel.Warning, "Possible SECURITY ATTACK detected. It looks like somebody is sending POST or Host: commands to Basalt. This is likely due to an attacker attempting to use Cross Protocol Scripting to compromise your instance. Connection aborted.")]
    public static partial void SecurityAttack(this ILogger log);
}
