using System.Net.Sockets;
using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Basalt.Server;
using Basalt.Server.Observability;

// As redis-server: -v/--version or -h/--help alone print and exit 0, before any config is read.
if (args is ["-v"] or ["--version"])
{
    Console.WriteLine($"Basalt server v={ServerInfo.Version} redis={ServerInfo.RedisVersion} bits={IntPtr.Size * 8} runtime={RuntimeInformation.FrameworkDescription}");
    return 0;
}

if (args is ["-h"] or ["--help"])
{
    Console.WriteLine("""
        Usage: basalt-server [/path/to/redis.conf] [--name value ...]
               basalt-server - (read the config from stdin)
               basalt-server -v or --version
               basalt-server -h or --help

        With no arguments the server listens on 127.0.0.1:6379 with one shard per core and ./data as its data dir.
        Settings are redis.conf directives, in the file or as --name value flags (flags win); docs/operations.md lists them.

        Examples:
               basalt-server
               basalt-server /etc/basalt/basalt.conf
               basalt-server --port 7777 --shards 4
               basalt-server /etc/basalt/basalt.conf --loglevel verbose
               echo 'port 7777' | basalt-server - --shards 4
        """);
    return 0;
}

var config = new ServerConfig();
try
{
    config.ApplyArguments(args);
}
catch (ConfigException ex)
{
    // One line naming the source (file:line, or the flag) and the reason, then a non-zero exit.
    Console.Error.WriteLine($"*** FATAL CONFIG ERROR *** {ex.Message}");
    return 1;
}

try
{
    Directory.CreateDirectory(config.Dir);
}
catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
{
    Console.Error.WriteLine($"*** FATAL *** Can't create the data directory '{config.Dir}': {ex.Message}");
    return 1;
}

// Every client is a descriptor. Raise the open files limit for maxclients now, and refuse to start under a
// limit the runtime itself would run out of; maxclients is fitted to it once the server is up (StartAsync). Room
// for as many closing sockets that are no longer clients (lingering closes) is asked for too, where the hard limit
// allows: without it connections close at once instead of lingering (BasaltServer.TryStartLinger).
var floor = OpenFilesLimit.StartupFloor(config.Shards);
var files = OpenFilesLimit.Raise((2 * (ulong)config.MaxClients) + floor);
if (files < floor)
{
    Console.Error.WriteLine($"*** FATAL *** Your current 'ulimit -n' of {files} is not enough for the server to start. Please increase your open file limit to at least {floor}.");
    return 1;
}

using var logs = new LogSetup(config.LogLevel);
await using var server = new BasaltServer(config, logs);

// SIGTERM and SIGINT are ours from before the start, so one that arrives while the server starts is not the runtime's
// default (death by the signal): it stops the server as soon as the start has finished (0 starting, 1 started, 2 a stop
// was asked for while starting).
var phase = new StrongBox<int>(0);
void OnSignal(PosixSignalContext ctx, string name)
{
    ctx.Cancel = true;
    logs.Server.SignalReceived(name);
    if (Interlocked.CompareExchange(ref phase.Value, 2, 0) != 0)
    {
        server.RequestStop();
    }
}

using var term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, ctx => OnSignal(ctx, "SIGTERM"));
using var interrupt = PosixSignalRegistration.Create(PosixSignal.SIGINT, ctx => OnSignal(ctx, "SIGINT"));
try
{
    await server.StartAsync();
}
catch (ListenException ex)
{
    logs.Server.ListenFailed(config.Bind, ex.Port, ex.Message);
    return 1;
}
catch (ConfigException ex)
{
    Console.Error.WriteLine($"*** FATAL *** {ex.Message}");
    return 1;
}

if (Interlocked.CompareExchange(ref phase.Value, 1, 0) == 2)
{
    server.RequestStop();
}

await server.WaitUntilStoppedAsync();
logs.Server.Exiting();
return 0;
