using System.Net;
using System.Net.Sockets;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Server.Commands;
using Basalt.Server.Shards;

namespace Basalt.Server;

/// <summary>
/// The process: shard loops, the acceptor thread, and what they share read-only (command table,
/// slot map, config). Start binds and runs; Stop drains and joins.
/// </summary>
public sealed class BasaltServer : IDisposable
{
    private readonly Socket _listener;
    private readonly Thread _acceptThread;
    private readonly ManualResetEventSlim _stopped = new();
    private long _nextClientId;
    private int _connected;
    private int _nextLoop;
    private long _connectionsReceived;
    private long _rejectedConnections;
    private volatile bool _stopping;

    public BasaltServer(ServerConfig config)
    {
        Config = config;
        config.MaxClientsCeiling = config.MaxClients;
        Options = new ServerOptions(config.Databases, config.MaxClients);
        Log = new Log(config.LogLevel);
        Limits = new ProtocolLimits { MaxBulkLength = config.ProtoMaxBulkLen };
        Commands = CommandRegistry.Build();
        Slots = new SlotMap(config.Shards);
        Loops = new ShardLoop[config.Shards];
        Router = new Router(this);
        ConnectionCommands.Register(Router);
        for (var i = 0; i < Loops.Length; i++)
        {
            Loops[i] = new ShardLoop(this, i);
        }

        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "basalt-accept" };
    }

    public ServerConfig Config { get; }

    internal ServerOptions Options { get; }

    public Log Log { get; }

    public ProtocolLimits Limits { get; }

    public CommandTable Commands { get; }

    public SlotMap Slots { get; }

    internal ShardLoop[] Loops { get; }

    internal Router Router { get; }

    public int Port { get; private set; }

    public long StartedAtMs { get; } = Environment.TickCount64;

    public int ConnectedClients => Volatile.Read(ref _connected);

    public long ConnectionsReceived => Interlocked.Read(ref _connectionsReceived);

    public long RejectedConnections => Interlocked.Read(ref _rejectedConnections);

    /// <summary>Blocks the calling thread until the server has stopped (SHUTDOWN, a signal, or Stop).</summary>
    public void WaitUntilStopped() => _stopped.Wait();

    public void Start()
    {
        var address = Config.Bind is "*" or "0.0.0.0" ? IPAddress.Any : IPAddress.Parse(Config.Bind.Split(' ')[0]);
        _listener.Bind(new IPEndPoint(address, Config.Port));
        _listener.Listen(511);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        foreach (var l in Loops)
        {
            l.Start();
        }

        _acceptThread.Start();
        Log.Info($"Basalt {ServerInfo.Version} (redis {ServerInfo.RedisVersion} compatible) pid={Environment.ProcessId} port={Port} shards={Loops.Length} dir={Path.GetFullPath(Config.Dir)} config={Config.ConfigFile ?? "(none)"}");
        Log.Info("Ready to accept connections tcp");
    }

    /// <summary>Stops accepting, stops the loops, closes every connection.</summary>
    public void Stop()
    {
        if (_stopping)
        {
            return;
        }

        _stopping = true;
        _listener.Dispose();
        foreach (var l in Loops)
        {
            l.Stop();
        }

        foreach (var l in Loops)
        {
            // Only a stopped loop's connections may be touched from this thread (invariant 1).
            if (l.Join(TimeSpan.FromSeconds(5)))
            {
                l.Dispose();
            }
            else
            {
                Log.Warning($"shard {l.Id} did not stop within 5 s; leaving its connections to process exit");
            }
        }

        _stopped.Set();
    }

    /// <summary>Asks for a stop from inside a loop (SHUTDOWN); the stop runs on another thread.</summary>
    public void RequestStop()
    {
        Log.Info("User requested shutdown...");
        _ = Task.Run(Stop);
    }

    public void Dispose()
    {
        Stop();
        _stopped.Dispose();
    }

    /// <summary>Pushes settings that live outside the table (parser limits, log level) after CONFIG SET.</summary>
    internal void ApplyRuntimeConfig()
    {
        Limits.MaxBulkLength = Config.ProtoMaxBulkLen;
        Log.Level = Config.LogLevel;
    }

    internal void OnClientClosed() => Interlocked.Decrement(ref _connected);

    internal void ResetStats()
    {
        Interlocked.Exchange(ref _connectionsReceived, 0);
        Interlocked.Exchange(ref _rejectedConnections, 0);
    }

    private void AcceptLoop()
    {
        while (!_stopping)
        {
            Socket socket;
            try
            {
                socket = _listener.Accept();
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
                if (_stopping)
                {
                    return;
                }

                Log.Warning($"accept failed: {ex.Message}");
                continue;
            }

            Interlocked.Increment(ref _connectionsReceived);
            if (Interlocked.Increment(ref _connected) > Config.MaxClients)
            {
                Interlocked.Decrement(ref _connected);
                Interlocked.Increment(ref _rejectedConnections);
                TryReject(socket, "-ERR max number of clients reached\r\n"u8);
                continue;
            }

            socket.NoDelay = true;
            socket.Blocking = false;
            var id = Interlocked.Increment(ref _nextClientId);
            var loop = Loops[_nextLoop++ % Loops.Length];
            loop.Post(new LoopAction(l => l.Adopt(socket, id)));
        }
    }

    private static void TryReject(Socket socket, ReadOnlySpan<byte> message)
    {
        try
        {
            socket.Send(message);
        }
        catch (SocketException)
        {
        }

        socket.Dispose();
    }
}

/// <summary>Values fixed at startup that hot code reads without going through the settings table.</summary>
internal sealed record ServerOptions(int Databases, int MaxClients);

public static class ServerInfo
{
    public const string Version = "0.1.0";

    /// <summary>The Redis version whose behaviour Basalt reproduces; clients gate features on it.</summary>
    public const string RedisVersion = "7.0.15";
}
