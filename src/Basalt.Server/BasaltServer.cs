using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Server.Admin;
using Basalt.Server.Commands;
using Basalt.Server.Net;
using Basalt.Server.Observability;
using Basalt.Server.Shards;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace Basalt.Server;

/// <summary>
/// The server: shard loops, the acceptor thread, the admin HTTP port, and what they share read-only
/// (command table, slot map, config, metric instruments). StartAsync brings it up gate by gate;
/// StopAsync drains and joins. Several can run in one process (tests); none of its state is static.
/// </summary>
public sealed class BasaltServer : IAsyncDisposable
{
    /// <summary>
    /// A loop that has been busy on one turn this long, or parked this long with messages waiting, is
    /// reported by /healthz.
    /// </summary>
    public const int UnresponsiveAfterMs = 5000;

    /// <summary>Linux's ceiling for TCP_KEEPIDLE and TCP_KEEPINTVL (MAX_TCP_KEEPIDLE, MAX_TCP_KEEPINTVL).</summary>
    private const int MaxKeepAliveSeconds = 32767;

    private readonly Socket _listener;
    private readonly Thread _acceptThread;
    private readonly TaskCompletionSource _stopped = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly LogSetup? _ownedLogs;
    private readonly LostWakeupWatch[] _wakeWatches;
    private AdminServer? _admin;
    private long _nextClientId;
    private int _connected;
    private int _lingering;

    // Descriptors the open files limit leaves for client sockets (its limit less what the process keeps for itself),
    // set at startup: what maxclients clients leave of them is room for lingering closes (TryStartLinger).
    private long _clientDescriptors;
    private int _nextLoop;
    private long _connectionsReceived;
    private long _rejectedConnections;
    private int _idleTimeoutApplied;
    private int _stopState;
    private bool _loopsStarted;
    private volatile bool _listening;
    private volatile bool _stopping;

    // Out of descriptors at accept (see RefuseWithoutDescriptors): a spare one to give up for a refusal, and
    // the wake for the accept thread when even that is gone, sent when a client's socket closes.
    private SafeFileHandle? _spareDescriptor;
    private readonly SemaphoreSlim _descriptorFreed = new(0);
    private int _acceptStarved;
    private bool _outOfDescriptors;
    private bool _acceptFailing;

    // How long the accept thread waits, for want of a wake, before it tries again after a failure that may last.
    private const int AcceptRetryMs = 1000;
    private List<SafeFileHandle>? _heldByTestHook;

    public BasaltServer(ServerConfig config, LogSetup? logs = null)
        : this(config, logs, testCommands: null)
    {
    }

    /// <summary>For tests: <paramref name="testCommands"/> adds commands to the table before the loops size their counters by it.</summary>
    internal BasaltServer(ServerConfig config, LogSetup? logs, Action<CommandTable>? testCommands)
    {
        Config = config;
        config.MaxClientsCeiling = config.MaxClients;
        _ownedLogs = logs is null ? new LogSetup(config.LogLevel) : null;
        Logs = logs ?? _ownedLogs!;
        Log = Logs.Server;
        _idleTimeoutApplied = Config.IdleTimeoutSeconds;
        Readiness.GateSet += gate => Log.GateSet(gate);
        Readiness.Set("config");
        Options = new ServerOptions(config.Databases, config.MaxClients);
        Limits = new ProtocolLimits { MaxBulkLength = config.ProtoMaxBulkLen };
        Commands = CommandRegistry.Build();
        testCommands?.Invoke(Commands);
        Slots = new SlotMap(config.Shards);
        Reclaimer = new MemoryReclaimer(config.Shards);
        Metrics = new ServerMetrics(this);
        Exporter = config.AdminPort != 0 ? new PrometheusExporter(Metrics.Meter) : null;
        Loops = new ShardLoop[config.Shards];
        Router = new Router(this);
        ConnectionCommands.Register(Router);
        _wakeWatches = new LostWakeupWatch[config.Shards];
        for (var i = 0; i < Loops.Length; i++)
        {
            Loops[i] = new ShardLoop(this, i);
            _wakeWatches[i] = new LostWakeupWatch();
        }

        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        // SO_REUSEADDR alone, as Redis sets it: a restart may bind while old connections sit in TIME_WAIT.
        // .NET's ReuseAddress option also sets SO_REUSEPORT on Linux, which would let a second server bind
        // the same port and take half its clients, so the option is set raw.
        Span<byte> one = stackalloc byte[sizeof(int)];
        BitConverter.TryWriteBytes(one, 1);
        _listener.SetRawSocketOption(Native.SOL_SOCKET, Native.SO_REUSEADDR, one);
        _acceptThread = new Thread(AcceptLoop) { IsBackground = true, Name = "basalt-accept" };
    }

    public ServerConfig Config { get; }

    internal ServerOptions Options { get; }

    public LogSetup Logs { get; }

    public ILogger Log { get; }

    public Readiness Readiness { get; } = new();

    public ServerMetrics Metrics { get; }

    /// <summary>Asks for a garbage collection when the shards have dropped many values (see <see cref="MemoryReclaimer"/>).</summary>
    internal MemoryReclaimer Reclaimer { get; }

    /// <summary>The /metrics exporter; null when the admin port is off.</summary>
    public PrometheusExporter? Exporter { get; }

    public ProtocolLimits Limits { get; }

    public CommandTable Commands { get; }

    public SlotMap Slots { get; }

    internal ShardLoop[] Loops { get; }

    internal Router Router { get; }

    public int Port { get; private set; }

    public int AdminPort => _admin?.Port ?? 0;

    public long StartedAtMs { get; } = Environment.TickCount64;

    /// <summary>A random identifier of this run of the server, as Redis's run_id: 40 hex digits, new at every start.</summary>
    public string RunId { get; } = Convert.ToHexStringLower(System.Security.Cryptography.RandomNumberGenerator.GetBytes(20));

    public int ConnectedClients => Volatile.Read(ref _connected);

    public long ConnectionsReceived => Interlocked.Read(ref _connectionsReceived);

    public long RejectedConnections => Interlocked.Read(ref _rejectedConnections);

    /// <summary>Completes when the server has stopped (SHUTDOWN, a signal, or StopAsync).</summary>
    public async Task WaitUntilStoppedAsync()
    {
#pragma warning disable VSTHRD003 // A TaskCompletionSource with asynchronous continuations; there is no SynchronizationContext to deadlock.
        await _stopped.Task.ConfigureAwait(false);
#pragma warning restore VSTHRD003
    }

    /// <summary>
    /// Brings the server up in readiness order: admin port first (so /readyz can answer 503 while
    /// starting), then the shard loops (storage), then the RESP listener.
    /// </summary>
    public async Task StartAsync()
    {
        var address = Config.BindAddress;
        if (Config.AdminPort != 0)
        {
            try
            {
                _admin = await AdminServer.StartAsync(this, address, Config.AdminPort).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is IOException or SocketException)
            {
                throw new ListenException(Config.AdminPort, ex.Message, ex);
            }

            Log.AdminListening(address.ToString(), _admin.Port);
        }

        foreach (var l in Loops)
        {
            l.Start();
        }

        _loopsStarted = true;

        // There is nothing to recover until the durability work lands: each shard starts empty.
        Readiness.Set("storage");

        // Test hook: hold the listener until the test writes a line to stdin, so /readyz can be seen
        // answering 503 with the listener gate false. Only an explicit environment variable turns it on.
        if (Environment.GetEnvironmentVariable("BASALT_TEST_HOLD_LISTENER") == "1")
        {
            Log.HoldingListener();
            _ = await Console.In.ReadLineAsync().ConfigureAwait(false);
        }

        _spareDescriptor = OpenSpareDescriptor();
        FitMaxClients();

        // Test hook: descriptors taken after the fit, as a leak elsewhere would, to drive accept into EMFILE.
        if (int.TryParse(Environment.GetEnvironmentVariable("BASALT_TEST_HOLD_DESCRIPTORS"), CultureInfo.InvariantCulture, out var hold) && hold > 0)
        {
            _heldByTestHook = [];
            for (var i = 0; i < hold; i++)
            {
                _heldByTestHook.Add(File.OpenHandle("/dev/null"));
            }

            Log.HoldingDescriptors(hold);
        }

        try
        {
            _listener.Bind(new IPEndPoint(address, Config.Port));
            WarnIfBacklogCapped();
            _listener.Listen(Config.TcpBacklog);
        }
        catch (SocketException ex)
        {
            throw new ListenException(Config.Port, ex.Message, ex);
        }

        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptThread.Start();
        _listening = true;
        Readiness.Set("listener");
        Logs.Startup.Banner(ServerInfo.Version, ServerInfo.RedisVersion, Environment.ProcessId, Port, AdminPort == 0 ? "off" : AdminPort.ToString(CultureInfo.InvariantCulture), Loops.Length, Path.GetFullPath(Config.Dir), Config.ConfigFile ?? "(none)");
        Logs.Startup.Ready();
    }

    /// <summary>
    /// Fits maxclients to the open files limit, once the runtime, the admin port and the loops hold their
    /// descriptors and before any client can connect: lowered with a warning, as Redis does, or a refusal to
    /// start when not even one client fits.
    /// </summary>
    private void FitMaxClients()
    {
        var fit = OpenFilesLimit.For(Config.MaxClients);
        _clientDescriptors = Math.Max(0, (long)fit.Limit - ((long)fit.Needed - Config.MaxClients));
        if (fit.MaxClients >= Config.MaxClients)
        {
            return;
        }

        if (fit.MaxClients < 1)
        {
            throw new ConfigException($"Your current 'ulimit -n' of {fit.Limit} is not enough for the server to start. Please increase your open file limit to at least {fit.Needed - (ulong)Config.MaxClients + 1}.");
        }

        Log.MaxClientsReduced(Config.MaxClients, fit.Needed, fit.Limit, fit.MaxClients);
        Config.LowerMaxClients(fit.MaxClients);
        Config.MaxClientsCeiling = fit.MaxClients;
    }

    /// <summary>
    /// Graceful stop: readiness turns 503 and the server keeps serving for shutdown-readiness-delay ms,
    /// then the listener closes, every loop closes each connection once everything it sent has been
    /// answered and flushed (so the close is a FIN after the last reply), bounded by shutdown-timeout,
    /// and then the loops stop. Safe to call more than once; later calls wait for the first.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopState, 1) != 0)
        {
            await WaitUntilStoppedAsync().ConfigureAwait(false);
            return;
        }

        Readiness.BeginShutdown();
        if (!_loopsStarted)
        {
            // StartAsync failed before the loops ran (the admin port could not bind): nothing is served, so
            // there is nothing to drain, and loops that never started must not be posted to or joined.
            await FinishStopAsync().ConfigureAwait(false);
            return;
        }

        // The delay is for a load balancer watching /readyz. A server that never listened (the RESP port could not be
        // bound) has none to tell, and neither has one without an admin port: no /readyz to watch, so no delay.
        var delayMs = _listening && Config.AdminPort != 0 ? Config.ShutdownReadinessDelayMs : 0;
        Log.ReadinessOff(delayMs);
        if (delayMs > 0)
        {
            // A load balancer stops routing here only once a /readyz probe has seen the 503; until
            // then it still sends new connections, which must be accepted and served.
            await Task.Delay(delayMs).ConfigureAwait(false);
        }

        Log.Draining(ConnectedClients);
        _stopping = true;
        _listener.Dispose();
        _descriptorFreed.Release();
        var drained = new Task[Loops.Length];
        for (var i = 0; i < Loops.Length; i++)
        {
            drained[i] = Loops[i].DrainAsync();
        }

        try
        {
            // A timer can't wait past 2^32 - 2 ms (49.7 days); Redis's range goes to 2^31 - 1 s, which is forever here.
            var timeout = Config.ShutdownTimeoutSeconds < uint.MaxValue / 1000 ? TimeSpan.FromSeconds(Config.ShutdownTimeoutSeconds) : Timeout.InfiniteTimeSpan;
            await Task.WhenAll(drained).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            Log.DrainTimedOut(ConnectedClients, Config.ShutdownTimeoutSeconds);
        }

        foreach (var l in Loops)
        {
            l.Stop();
        }

        var allStopped = true;
        foreach (var l in Loops)
        {
            if (!l.Join(TimeSpan.FromSeconds(5)))
            {
                Log.LoopDidNotStop(l.Id);
                allStopped = false;
            }
        }

        // Only stopped loops' connections may be touched from this thread (invariant 1), and only once
        // every loop has stopped, since a loop may be sending on another's connection (a handed-off group).
        if (allStopped)
        {
            foreach (var l in Loops)
            {
                l.Dispose();
            }
        }

        await FinishStopAsync().ConfigureAwait(false);
    }

    /// <summary>The last steps of every stop, started or not: the admin port, the metrics, and the stopped signal.</summary>
    private async Task FinishStopAsync()
    {
        if (_admin is not null)
        {
            await _admin.DisposeAsync().ConfigureAwait(false);
        }

        Exporter?.Dispose();
        Metrics.Dispose();
        _stopped.TrySetResult();
    }

    /// <summary>Asks for a stop from inside a loop (SHUTDOWN) or a signal handler; the stop runs on the thread pool.</summary>
    public void RequestStop() => _ = Task.Run(StopAsync);

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);

        // The accept thread leaves once the listener is closed (or, starved of descriptors, once released); the
        // descriptors it may still use are closed after it has gone.
        if (_acceptThread.IsAlive && !_acceptThread.Join(TimeSpan.FromSeconds(5)))
        {
            Log.AcceptThreadStuck();
        }
        else
        {
            _spareDescriptor?.Dispose();
            _descriptorFreed.Dispose();
        }

        if (_heldByTestHook is not null)
        {
            foreach (var h in _heldByTestHook)
            {
                h.Dispose();
            }
        }

        Reclaimer.Dispose();
        _ownedLogs?.Dispose();
    }

    /// <summary>
    /// Loops that are inside one turn for longer than the threshold (wedged, or starved of CPU), and
    /// loops seen parked with messages waiting by health checks at least the threshold apart, with no
    /// wake in between (a lost wakeup).
    /// </summary>
    public List<LoopProblem> UnhealthyLoops(long thresholdMs)
    {
        var result = new List<LoopProblem>();
        for (var i = 0; i < Loops.Length; i++)
        {
            var l = Loops[i];
            if (!l.IsRunning)
            {
                continue;
            }

            var now = Environment.TickCount64;
            var parked = l.IsParked;
            if (!parked && now - l.LastTurnTicks > thresholdMs)
            {
                result.Add(new LoopProblem(l.Id, LostWakeup: false, now - l.LastTurnTicks));
                continue;
            }

            // The wake count is read last: see LostWakeupWatch.Observe.
            var inboxEmpty = l.InboxEmpty;
            var waitedMs = _wakeWatches[i].Observe(parked, inboxEmpty, l.Stats.Wakes, now);
            if (waitedMs >= thresholdMs)
            {
                result.Add(new LoopProblem(l.Id, LostWakeup: true, waitedMs));
            }
        }

        return result;
    }

    /// <summary>
    /// Asks every loop to publish its key counts (only a loop may read its keyspace, invariant 1) and
    /// waits for all of them, at most <paramref name="timeout"/>; a loop that doesn't answer keeps its last values.
    /// </summary>
    public async Task PublishGaugesAsync(TimeSpan timeout)
    {
        if (_stopping)
        {
            return; // loops are draining or gone: the last published values stand
        }

        var published = new Task[Loops.Length];
        for (var i = 0; i < Loops.Length; i++)
        {
            published[i] = Loops[i].RequestGaugesAsync();
        }

        try
        {
            await Task.WhenAll(published).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
    }

    /// <summary>Pushes settings that live outside the table (parser limits, log level) after CONFIG SET.</summary>
    internal void ApplyRuntimeConfig()
    {
        Limits.MaxBulkLength = Config.ProtoMaxBulkLen;
        Logs.Level = Config.LogLevel;

        // A new idle timeout holds for clients already connected too: each loop checks its clients against it at once.
        var timeout = Config.IdleTimeoutSeconds;
        if (Interlocked.Exchange(ref _idleTimeoutApplied, timeout) != timeout)
        {
            foreach (var loop in Loops)
            {
                loop.RequestIdleRecheck();
            }
        }
    }

    /// <summary>
    /// A client stopped counting against maxclients: it closed, or it will run nothing more and has nothing out on any
    /// loop (Connection.LeaveClients), so the inboxes' sizing by this count holds.
    /// </summary>
    internal void OnClientGone() => Interlocked.Decrement(ref _connected);

    /// <summary>
    /// A closing connection stops being a client before its socket closes: it sends its last replies (at most 64 KB) and
    /// then waits for the client's end of stream (close-linger). Its descriptor stays, so at most maxclients such sockets
    /// are open at once, and only in descriptors clients can't need; past that, false: it stays a client until its last
    /// reply is sent and then closes at once.
    /// </summary>
    internal bool TryStartLinger()
    {
        // Lingering sockets use only the descriptors left over once maxclients clients have theirs: never one a client
        // (or a config rewrite, or the admin port) would then miss.
        var room = Math.Min(Config.MaxClients, Volatile.Read(ref _clientDescriptors) - Config.MaxClients);
        if (Interlocked.Increment(ref _lingering) > room)
        {
            Interlocked.Decrement(ref _lingering);
            return false;
        }

        return true;
    }

    /// <summary>A socket that was no longer a client closed (Connection.ReleaseBuffers).</summary>
    internal void OnLingerEnded() => Interlocked.Decrement(ref _lingering);

    /// <summary>Sockets that are no longer clients, sending their last replies or lingering, not yet closed.</summary>
    public int LingeringConnections => Volatile.Read(ref _lingering);

    /// <summary>A client's socket was closed: wakes the accept thread if it waits for a descriptor.</summary>
    internal void OnDescriptorFreed()
    {
        if (Volatile.Read(ref _acceptStarved) != 0 && _descriptorFreed.CurrentCount == 0)
        {
            _descriptorFreed.Release();
        }
    }

    private static SafeFileHandle? OpenSpareDescriptor()
    {
        try
        {
            return File.OpenHandle("/dev/null");
        }
        catch (IOException)
        {
            return null;
        }
    }

    /// <summary>
    /// accept() failed for want of a descriptor (EMFILE/ENFILE). Retrying at once would spin, since accept fails
    /// that way before it even waits for a client, and the clients would wait in the backlog for nothing. So,
    /// as libev and nginx do, the spare descriptor is given up, one client is accepted on it and refused with the
    /// maxclients error, and the spare is taken back. If the spare cannot be taken back, the thread waits for
    /// a client's socket to close (<see cref="OnDescriptorFreed"/>) before it tries again: no spin, no sleep.
    /// </summary>
    private void RefuseWithoutDescriptors()
    {
        if (!_outOfDescriptors)
        {
            _outOfDescriptors = true;
            Log.OutOfDescriptors();
        }

        if (_spareDescriptor is null)
        {
            // Announce the wait before the last try (a full fence): a close that the try misses sees the flag.
            Interlocked.Exchange(ref _acceptStarved, 1);
            _spareDescriptor = OpenSpareDescriptor();
            if (_spareDescriptor is null && !_stopping)
            {
                // Bounded: a descriptor freed elsewhere (another process, for ENFILE; a file this process closes) sends no wake.
                _descriptorFreed.Wait(AcceptRetryMs);
            }

            Volatile.Write(ref _acceptStarved, 0);
            return;
        }

        _spareDescriptor.Dispose();
        _spareDescriptor = null;
        try
        {
            var socket = _listener.Accept();

            // Taking the spare back also tells whether descriptors were freed while accept waited for this client.
            _spareDescriptor = OpenSpareDescriptor();
            if (_spareDescriptor is not null)
            {
                _outOfDescriptors = false;
                Admit(socket);
                return;
            }

            Interlocked.Increment(ref _rejectedConnections);
            TryReject(socket, "-ERR max number of clients reached\r\n"u8);
        }
        catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
        {
        }

        _spareDescriptor ??= OpenSpareDescriptor();
    }

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

                if (ex is SocketException { SocketErrorCode: SocketError.TooManyOpenSockets })
                {
                    RefuseWithoutDescriptors();
                    continue;
                }

                if (ex is SocketException { SocketErrorCode: SocketError.ConnectionAborted or SocketError.Interrupted or SocketError.ConnectionReset })
                {
                    // One client gone before it was accepted, or a signal: the next accept is unaffected.
                    continue;
                }

                // Anything else (ENOBUFS, ENOMEM, a firewall's EPERM) may last: logged once, and retried after a client's
                // socket closes or AcceptRetryMs, not at once, which would spin the accept thread.
                if (!_acceptFailing)
                {
                    _acceptFailing = true;
                    Log.AcceptFailed(ex.Message);
                }

                Interlocked.Exchange(ref _acceptStarved, 1);
                if (!_stopping)
                {
                    _descriptorFreed.Wait(AcceptRetryMs);
                }

                Volatile.Write(ref _acceptStarved, 0);
                continue;
            }

            _outOfDescriptors = false;
            _acceptFailing = false;
            Admit(socket);
        }
    }

    /// <summary>An accepted client: refused past maxclients, else handed round-robin to a loop.</summary>
    private void Admit(Socket socket)
    {
        if (Interlocked.Increment(ref _connected) > Config.MaxClients)
        {
            Interlocked.Decrement(ref _connected);
            Interlocked.Increment(ref _rejectedConnections);
            TryReject(socket, "-ERR max number of clients reached\r\n"u8);
            return;
        }

        // Redis's protected mode: with no password, only a client on 127.0.0.1 (or ::1) is served; others get its
        // DENIED text and a close, counted as a rejected connection. Checked after maxclients, as Redis does.
        if (Config.ProtectedMode && Config.RequirePass.Length == 0 && !IsLocalClient(socket))
        {
            Interlocked.Decrement(ref _connected);
            Interlocked.Increment(ref _rejectedConnections);
            TryReject(socket, ProtectedModeDenied);
            return;
        }

        try
        {
            socket.NoDelay = true;
            SetKeepAlive(socket, Config.TcpKeepAliveSeconds);
            socket.Blocking = false;
        }
        catch (SocketException)
        {
            // The client is already gone (reset before it was set up): nothing to admit.
            Interlocked.Decrement(ref _connected);
            socket.Dispose();
            return;
        }

        // Counted as received only now, past the refusals, as Redis counts total_connections_received.
        Interlocked.Increment(ref _connectionsReceived);

        // Ids and loops advance together, so client id n is served by loop (n - 1) mod shards (tests rely on it).
        var id = Interlocked.Increment(ref _nextClientId);
        var loop = Loops[_nextLoop++ % Loops.Length];
        try
        {
            loop.Post(new LoopAction(l => l.Adopt(socket, id)));
        }
        catch (InvalidOperationException ex)
        {
            // A full inbox breaks the sizing invariant (docs/architecture.md): refuse this client loudly and go on
            // accepting, rather than let the exception end the accept thread and with it the process.
            Log.AdmitFailed(ex.Message);
            Interlocked.Decrement(ref _connected);
            Interlocked.Increment(ref _rejectedConnections);
            TryReject(socket, "-ERR server busy: the shard's inbox is full\r\n"u8);
        }
    }

    private static ReadOnlySpan<byte> ProtectedModeDenied =>
        "-DENIED Redis is running in protected mode because protected mode is enabled and no password is set for the default user. In this mode connections are only accepted from the loopback interface. If you want to connect from external computers to Redis you may adopt one of the following solutions: 1) Just disable protected mode sending the command 'CONFIG SET protected-mode no' from the loopback interface by connecting to Redis from the same host the server is running, however MAKE SURE Redis is not publicly accessible from internet if you do so. Use CONFIG REWRITE to make this change permanent. 2) Alternatively you can just disable the protected mode by editing the Redis configuration file, and setting the protected mode option to 'no', and then restarting the server. 3) If you started the server manually just for testing, restart it with the '--protected-mode no' option. 4) Setup a an authentication password for the default user. NOTE: You only need to do one of the above things in order for the server to start accepting connections from the outside.\r\n"u8;

    /// <summary>
    /// Redis 7.0's test for protected mode: the peer's address is exactly 127.0.0.1 or ::1, so another loopback
    /// address (127.0.0.2) is not local either.
    /// </summary>
    private static bool IsLocalClient(Socket socket) => socket.RemoteEndPoint is IPEndPoint ep && IsLocalAddress(ep.Address);

    /// <summary>Redis's islocalClient: 127.0.0.1 or ::1 only, not the rest of 127.0.0.0/8 (protected mode, DEBUG local).</summary>
    internal static bool IsLocalAddress(IPAddress address) => address.Equals(IPAddress.Loopback) || address.Equals(IPAddress.IPv6Loopback);

    /// <summary>
    /// tcp-keepalive as Redis sets it: probes after <paramref name="seconds"/> of silence, then every third of that,
    /// three times, so a peer that vanished without a FIN is found and its connection freed. Linux caps the idle
    /// time and the interval at 32767 s. A socket the client already reset is left as it is.
    /// </summary>
    private static void SetKeepAlive(Socket socket, int seconds)
    {
        if (seconds <= 0)
        {
            return;
        }

        try
        {
            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.KeepAlive, true);
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveTime, Math.Min(seconds, MaxKeepAliveSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveInterval, Math.Clamp(seconds / 3, 1, MaxKeepAliveSeconds));
            socket.SetSocketOption(SocketOptionLevel.Tcp, SocketOptionName.TcpKeepAliveRetryCount, 3);
        }
        catch (SocketException)
        {
        }
    }

    /// <summary>Redis warns when net.core.somaxconn is below tcp-backlog, since the kernel silently uses the lower value.</summary>
    private void WarnIfBacklogCapped()
    {
        try
        {
            if (int.TryParse(File.ReadAllText("/proc/sys/net/core/somaxconn").Trim(), CultureInfo.InvariantCulture, out var somaxconn) && somaxconn < Config.TcpBacklog)
            {
                Log.BacklogCapped(Config.TcpBacklog, somaxconn);
            }
        }
        catch (IOException)
        {
        }
        catch (UnauthorizedAccessException)
        {
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

/// <summary>One loop /healthz reports: busy on one turn for <paramref name="Ms"/>, or parked that long with messages nobody woke it for.</summary>
public readonly record struct LoopProblem(int Shard, bool LostWakeup, long Ms);

/// <summary>Values fixed at startup that hot code reads without going through the settings table.</summary>
internal sealed record ServerOptions(int Databases, int MaxClients);

public static class ServerInfo
{
    public const string Version = "0.1.0";

    /// <summary>The Redis version whose behaviour Basalt reproduces; clients gate features on it.</summary>
    public const string RedisVersion = "7.0.15";

    /// <summary>INFO's <c>os</c>, as Redis writes it from uname(2): system name, kernel release, machine.</summary>
    public static string OperatingSystem { get; } = Net.Native.Uname();
}

/// <summary>A port the server must listen on (RESP or admin) could not be bound; startup stops with it.</summary>
public sealed class ListenException(int port, string message, Exception inner) : Exception(message, inner)
{
    public int Port { get; } = port;
}
