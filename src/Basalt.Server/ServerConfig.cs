using System.Globalization;
using System.Net;
using System.Net.Sockets;
using Basalt.Server.Observability;

namespace Basalt.Server;

/// <summary>How a setting's value is written: CONFIG REWRITE quotes strings and writes word lists bare.</summary>
public enum SettingType
{
    Int,
    Bool,
    Memory,
    String,
    Enum,

    /// <summary>Several words on one line (bind, save, client-output-buffer-limit).</summary>
    Words,
}

/// <summary>
/// One row of the settings table. <see cref="Prepare"/> validates and parses a value without changing
/// anything, throwing <see cref="FormatException"/> or <see cref="ArgumentException"/> when it is invalid;
/// the action it returns stores the parsed value and cannot fail.
/// </summary>
public sealed record Setting(string Name, SettingType Type, string Default, bool Mutable, Func<string> Get, Func<string, Action> Prepare)
{
    /// <summary>In a config file, repeated lines add to the value instead of replacing it (redis.conf's "save").</summary>
    public bool AppendsInFile { get; init; }

    /// <summary>Validates and stores a value; throws, changing nothing, when it is invalid.</summary>
    public void Apply(string value) => Prepare(value)();
}

/// <summary>
/// The one table of settings: each row has a name, type, default, whether it may change at runtime,
/// and a validator that applies it. Defaults are applied through the same validators at construction,
/// so a default can't disagree with its own rule. Config files (<see cref="ConfigFile"/>),
/// command-line flags and CONFIG GET/SET/REWRITE all go through this table.
/// </summary>
public sealed class ServerConfig
{
    private readonly Dictionary<string, Setting> _settings = new(StringComparer.OrdinalIgnoreCase);
    private readonly List<Setting> _ordered = [];

    // CONFIG SET runs on whichever loop owns the client; two of them at once must not interleave
    // their stores, so each one's values land together. Held only to store values already
    // validated, or to read them all for a rewrite: never across an await, and never on the data path.
    private readonly Lock _writeLock = new();

    // CONFIG REWRITE's own: rewrites take turns writing the file, outside _writeLock (see Rewrite).
    private readonly Lock _rewriteLock = new();

    public ServerConfig()
    {
        Define("bind", SettingType.Words, "127.0.0.1", false, () => Bind, ParseBind, v => (Bind, BindAddress) = v);
        Define("port", SettingType.Int, "6379", false, () => Str(Port), v => ParseInt(v, 0, 65535), v => Port = v);
        Define("tcp-backlog", SettingType.Int, "511", false, () => Str(TcpBacklog), v => ParseInt(v, 0, int.MaxValue), v => TcpBacklog = v);
        Define("admin-port", SettingType.Int, "9121", false, () => Str(AdminPort), v => ParseInt(v, 0, 65535), v => AdminPort = v);
        Define("shards", SettingType.Int, Str(Environment.ProcessorCount), false, () => Str(Shards), v => ParseInt(v, 1, 1024), v => Shards = v);
        Define("dir", SettingType.String, "./data", false, () => Path.GetFullPath(Dir), v => v.Length > 0 ? v : throw new ArgumentException("dir can't be empty"), v => Dir = v);
        Define("databases", SettingType.Int, "16", false, () => Str(Databases), v => ParseInt(v, 1, 1024), v => Databases = v);
        Define("maxclients", SettingType.Int, "10000", true, () => Str(MaxClients), ParseMaxClients, v => MaxClients = v);
        Define("timeout", SettingType.Int, "0", true, () => Str(IdleTimeoutSeconds), v => ParseInt(v, 0, int.MaxValue), v => IdleTimeoutSeconds = v);
        Define("tcp-keepalive", SettingType.Int, "300", true, () => Str(TcpKeepAliveSeconds), v => ParseInt(v, 0, int.MaxValue), v => TcpKeepAliveSeconds = v);
        Define("requirepass", SettingType.String, string.Empty, true, () => RequirePass, v => v, v => RequirePass = v);
        Define("proto-max-bulk-len", SettingType.Memory, "512mb", true, () => Str(ProtoMaxBulkLen), v => ParseMemory(v, 1024 * 1024, long.MaxValue), v => ProtoMaxBulkLen = v);
        Define("client-query-buffer-limit", SettingType.Memory, "1gb", true, () => Str(QueryBufferLimit), v => ParseMemory(v, 1024 * 1024, int.MaxValue), v => QueryBufferLimit = v);
        Define("client-output-buffer-limit", SettingType.Words, "normal 256mb 0 0 slave 256mb 64mb 60 pubsub 32mb 8mb 60", true, () => OutputBufferLimits.Text(_outputLimits), v => OutputBufferLimits.Parse(v, _outputLimits), v => _outputLimits = v);
        Define("hz", SettingType.Int, "10", true, () => Str(Hz), v => Math.Clamp(ParseInt(v, 0, int.MaxValue), 1, 500), v => Hz = v);
        Define("loglevel", SettingType.Enum, "notice", true, () => LogLevel.ToString().ToLowerInvariant(), ParseEnum<LogLevel>, v => LogLevel = v);
        Define("protected-mode", SettingType.Bool, "yes", true, () => YesNo(ProtectedMode), ParseBool, v => ProtectedMode = v);
        Define("enable-debug-command", SettingType.Enum, "no", false, () => DebugCommand.ToString().ToLowerInvariant(), ParseEnum<DebugCommandMode>, v => DebugCommand = v);
        Define("save", SettingType.Words, "3600 1 300 100 60 10000", true, () => SavePoints, ParseSave, v => SavePoints = v, appendsInFile: true);
        Define("appendonly", SettingType.Bool, "no", true, () => "no", ParseAppendOnly, static _ => { });
        Define("shutdown-timeout", SettingType.Int, "10", true, () => Str(ShutdownTimeoutSeconds), v => ParseInt(v, 0, int.MaxValue), v => ShutdownTimeoutSeconds = v);
        Define("shard-sched-policy", SettingType.Enum, "batch", false, () => ShardSchedPolicy.ToString().ToLowerInvariant(), ParseEnum<ShardSchedPolicy>, v => ShardSchedPolicy = v);
        Define("close-linger", SettingType.Int, "5000", true, () => Str(CloseLingerMs), v => ParseInt(v, 0, 600_000), v => CloseLingerMs = v);
        Define("shutdown-readiness-delay", SettingType.Int, "1000", true, () => Str(ShutdownReadinessDelayMs), v => ParseInt(v, 0, 600_000), v => ShutdownReadinessDelayMs = v);
        foreach (var s in _ordered)
        {
            s.Apply(s.Default);
        }
    }

    public string Bind { get; private set; } = null!;

    /// <summary>The address the RESP and admin ports bind to: the first one in <see cref="Bind"/>.</summary>
    public IPAddress BindAddress { get; private set; } = null!;

    public int Port { get; private set; }

    /// <summary>The listen backlog of the RESP port (the kernel caps it at net.core.somaxconn).</summary>
    public int TcpBacklog { get; private set; }

    /// <summary>The admin HTTP port (/healthz, /readyz, /metrics); 0 disables it.</summary>
    public int AdminPort { get; private set; }

    public int Shards { get; private set; }

    public string Dir { get; private set; } = null!;

    public int Databases { get; private set; }

    public int MaxClients { get; private set; }

    public string RequirePass { get; private set; } = null!;

    /// <summary>Redis's timeout: a client silent for more than this many seconds is closed; 0 never closes one.</summary>
    public int IdleTimeoutSeconds { get; private set; }

    /// <summary>Redis's tcp-keepalive: seconds of silence before the kernel probes a client's socket; 0 turns probes off.</summary>
    public int TcpKeepAliveSeconds { get; private set; }

    /// <summary>The largest maxclients a server may start with.</summary>
    public const int StartupMaxClients = 1_000_000;

    /// <summary>
    /// Set at startup: the shard inboxes are sized for this many clients, so maxclients may be lowered
    /// at runtime but not raised past it (raising it needs a restart).
    /// </summary>
    public int? MaxClientsCeiling { get; set; }

    /// <summary>Per client class (normal, replica, pubsub), replaced whole by CONFIG SET so a loop never reads a torn value.</summary>
    private OutputBufferLimit[] _outputLimits = OutputBufferLimits.Empty();

    /// <summary>
    /// maxclients as Redis bounds it (1 to 4294967295, its error), then Basalt's own ceiling: the shard inboxes are sized
    /// for the clients at startup, so a running server can't go past that.
    /// </summary>
    private int ParseMaxClients(string v)
    {
        var n = ParseLong(v);
        if (n is < 1 or > uint.MaxValue)
        {
            throw new ArgumentException($"argument must be between 1 and {uint.MaxValue} inclusive");
        }

        if (MaxClientsCeiling is not { } ceiling)
        {
            // At startup: each shard's inbox holds 4 messages per client, allocated up front, so there is a ceiling.
            return n <= StartupMaxClients
                ? (int)n
                : throw new ArgumentException($"Basalt supports at most {StartupMaxClients} clients (each shard's inbox is allocated for maxclients at startup)");
        }

        return n <= ceiling
            ? (int)n
            : throw new ArgumentException($"the shard inboxes are sized for {ceiling} clients at startup, so maxclients can't go past that without a restart; try with {ceiling}");
    }

    /// <summary>Lowers maxclients to what the open files limit holds (startup only, see <see cref="OpenFilesLimit"/>).</summary>
    public void LowerMaxClients(int value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(value, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(value, MaxClients);
        MaxClients = value;
    }

    public long ProtoMaxBulkLen { get; private set; }

    public long QueryBufferLimit { get; private set; }

    /// <summary>The normal client class's output buffer limits (client-output-buffer-limit normal); read by the loops.</summary>
    public OutputBufferLimit NormalOutputLimit => _outputLimits[(int)OutputBufferLimits.ClientClass.Normal];

    /// <summary>
    /// Past this many unsent bytes a connection sends what it has before it runs more commands. It never stops reading:
    /// a client may write its whole pipeline before it reads a reply (redis-py, hiredis), and the output limits bound
    /// what one that never reads can pile up.
    /// </summary>
    public long OutputFlushBytes { get; } = 1024 * 1024;

    public int Hz { get; private set; }

    public LogLevel LogLevel { get; private set; }

    public bool ProtectedMode { get; private set; }

    public DebugCommandMode DebugCommand { get; private set; }

    /// <summary>Snapshot points, "seconds changes" pairs. Validated and kept for the snapshot scheduler.</summary>
    public string SavePoints { get; private set; } = null!;

    /// <summary>Upper bound on a graceful shutdown: in-flight work that takes longer is cut off.</summary>
    public int ShutdownTimeoutSeconds { get; private set; }

    /// <summary>
    /// Milliseconds a graceful stop keeps serving, RESP port open, after /readyz turns 503: a load
    /// balancer learns of the stop only by probing, so it must see the 503 before the port closes.
    /// </summary>
    public int ShutdownReadinessDelayMs { get; private set; }

    /// <summary>
    /// Milliseconds a connection closing after its last reply (QUIT, a protocol error, CLIENT KILL of itself) waits for
    /// the client to close its side, reading and dropping what it still sends. Closing with unread input sends RST,
    /// which destroys replies the client has not read yet; 0 closes at once.
    /// </summary>
    public int CloseLingerMs { get; private set; }

    /// <summary>The Linux scheduling policy each shard loop thread sets for itself when it starts.</summary>
    public ShardSchedPolicy ShardSchedPolicy { get; private set; }

    /// <summary>The config file the server started from, or null; CONFIG REWRITE writes it back.</summary>
    public string? ConfigFile { get; private set; }

    /// <summary>The settings in definition order.</summary>
    public IReadOnlyList<Setting> Settings => _ordered;

    public IEnumerable<string> Names => _settings.Keys;

    public bool IsKnown(string name) => _settings.ContainsKey(name);

    public bool IsMutable(string name) => _settings.TryGetValue(name, out var s) && s.Mutable;

    public string Get(string name) => _settings[name].Get();

    public bool TryFind(string name, out Setting setting) => _settings.TryGetValue(name, out setting!);

    /// <summary>Validates and applies one value; on failure returns the reason and changes nothing.</summary>
    public string? TrySet(string name, string value) => TrySetAll([(name, value)]) is { } failure ? failure.Reason : null;

    /// <summary>
    /// Applies several pairs as one: every value is validated and parsed first, and only when all of
    /// them are valid are they stored, so a reader never sees some of the pairs applied and not others
    /// because one of them failed. Returns the failing name and reason, or null.
    /// </summary>
    public (string Name, string Reason)? TrySetAll(IReadOnlyList<(string Name, string Value)> pairs)
    {
        var stores = new Action[pairs.Count];
        for (var i = 0; i < pairs.Count; i++)
        {
            var (name, value) = pairs[i];
            if (!_settings.TryGetValue(name, out var s))
            {
                return (name, $"unknown setting '{name}'");
            }

            try
            {
                stores[i] = s.Prepare(value);
            }
            catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
            {
                return (name, ex.Message);
            }
        }

        lock (_writeLock)
        {
            foreach (var store in stores)
            {
                store();
            }
        }

        return null;
    }

    /// <summary>
    /// CONFIG REWRITE: the values are read under the lock CONFIG SET applies under, so the file gets one consistent set,
    /// never half of a multi-pair SET; the file is written under a lock of its own, so two rewrites from two loops land
    /// in turn, the later with the later values, while a CONFIG SET elsewhere waits only for the reading, not for the
    /// file's write and fsync.
    /// </summary>
    internal void Rewrite(string path)
    {
        lock (_rewriteLock)
        {
            var values = new Dictionary<string, string>(StringComparer.Ordinal);
            lock (_writeLock)
            {
                foreach (var setting in Settings)
                {
                    values[setting.Name] = setting.Get();
                }
            }

            ConfigRewriter.Rewrite(this, path, values);
        }
    }

    /// <summary>
    /// Applies redis-server style arguments, read as Redis 7.0's main() reads them: an optional config file first (an
    /// argument not starting with '-'), then <c>-</c> (first or last) for a config read from stdin, then "--name value…"
    /// flags. A flag may carry its value in the same argument ("--port 6380"); the argument after a bare name is its value
    /// even if it starts with "--" (<c>--requirepass --secret</c>), except after <c>--save</c>, which is then given "".
    /// The sources apply in that order, file, stdin, flags, so flags win.
    /// </summary>
    public void ApplyArguments(string[] args) => ApplyArguments(args, Console.OpenStandardInput);

    internal void ApplyArguments(string[] args, Func<Stream> stdin)
    {
        var i = 0;
        var reader = new ConfigFileReader(this);
        if (args.Length > 0 && !args[0].StartsWith('-'))
        {
            ConfigFile = Path.GetFullPath(args[0]);
            i = 1;
        }

        var fromStdin = false;
        var directives = new List<List<string>>();
        List<string>? current = null;
        var needsValue = false;
        for (; i < args.Length; i++)
        {
            var arg = args[i];
            if (arg == "-" && (i == 0 || i == args.Length - 1))
            {
                fromStdin = true;
            }
            else if (!needsValue && arg.StartsWith("--", StringComparison.Ordinal))
            {
                var words = ConfigFileReader.SplitLine(System.Text.Encoding.UTF8.GetBytes(arg[2..]), out _);
                if (words is not { Count: > 0 })
                {
                    throw new ConfigException($"command line: argument '{arg}': expected --name value");
                }

                directives.Add(current = words);
                needsValue = words.Count == 1;
                if (needsValue && arg.Equals("--save", StringComparison.OrdinalIgnoreCase) &&
                    (i == args.Length - 1 || args[i + 1].StartsWith("--", StringComparison.Ordinal)))
                {
                    current.Add(string.Empty); // `--save` with nothing after it is `save ""`, as in Redis since 7.0.1
                    needsValue = false;
                }
            }
            else
            {
                if (current is null)
                {
                    throw new ConfigException($"command line: argument '{arg}': expected --name value");
                }

                current.Add(arg);
                needsValue = false;
            }
        }

        if (ConfigFile is not null)
        {
            reader.ReadFile(ConfigFile);
        }

        if (fromStdin)
        {
            using var input = stdin();
            using var text = new MemoryStream();
            input.CopyTo(text);
            reader.ReadText(text.ToArray(), "stdin");
        }

        var flags = new ConfigSource("command line");
        foreach (var words in directives)
        {
            reader.ApplyDirective(words, flags, $"command line: '--{words[0]}'");
        }
    }

    internal static string Str(long n) => n.ToString(CultureInfo.InvariantCulture);

    internal static string YesNo(bool b) => b ? "yes" : "no";

    /// <summary>An integer setting as Redis reads one: <c>string2ll</c> (no '+', spaces or leading zeros), then its bounds.</summary>
    internal static int ParseInt(string v, int min, int max)
    {
        var n = ParseLong(v);
        return n < min || n > max ? throw new ArgumentException($"argument must be between {min} and {max} inclusive") : (int)n;
    }

    private static long ParseLong(string v) => Protocol.String2ll.TryParse(System.Text.Encoding.UTF8.GetBytes(v), out var n)
        ? n
        : throw new FormatException("argument couldn't be parsed into an integer");

    internal static bool ParseBool(string v) => v.ToLowerInvariant() switch
    {
        "yes" => true,
        "no" => false,
        _ => throw new FormatException("argument must be 'yes' or 'no'"),
    };

    /// <summary>
    /// There is no append-only file, so "no" is the only true value; "yes" is refused rather than kept and
    /// not honoured. Clients read it (redis-benchmark warns when CONFIG GET appendonly comes back empty).
    /// </summary>
    private static bool ParseAppendOnly(string v) => ParseBool(v)
        ? throw new ArgumentException("argument must be 'no': Basalt has no append-only file yet (durability comes with its write-ahead log)")
        : false;

    /// <summary>One of the names, case aside, and nothing else: Enum.TryParse would also take "debug,verbose", " warning" or "1".</summary>
    internal static T ParseEnum<T>(string v)
        where T : struct, Enum
    {
        foreach (var name in Enum.GetNames<T>())
        {
            if (name.Equals(v, StringComparison.OrdinalIgnoreCase))
            {
                return Enum.Parse<T>(name);
            }
        }

        throw new FormatException("argument(s) must be one of the following: " + string.Join(", ", Enum.GetNames<T>()).ToLowerInvariant());
    }

    /// <summary>
    /// A memory setting as Redis reads it (<see cref="OutputBufferLimits.TryParseMemory"/>), then bounded with Redis's
    /// message.
    /// </summary>
    internal static long ParseMemory(string v, long min, long max)
    {
        if (!OutputBufferLimits.TryParseMemory(v, out var bytes))
        {
            throw new FormatException("argument must be a memory value");
        }

        return bytes < (ulong)min || bytes > (ulong)max
            ? throw new ArgumentException($"argument must be between {min} and {max} inclusive")
            : (long)bytes;
    }

    /// <summary>
    /// redis.conf's bind: addresses, each optionally prefixed by '-' (Redis: skip it if unavailable).
    /// Basalt binds only the first, on one IPv4 socket, so that one must be IPv4 or "*".
    /// </summary>
    private static (string Text, IPAddress First) ParseBind(string v)
    {
        var words = v.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length == 0)
        {
            throw new ArgumentException("bind needs at least one address");
        }

        foreach (var w in words)
        {
            if (w is not ("*" or "-::*") && !IPAddress.TryParse(w.TrimStart('-'), out _))
            {
                throw new FormatException($"'{w}' is not an IP address");
            }
        }

        var first = words[0].TrimStart('-');
        IPAddress address;
        if (first == "*")
        {
            address = IPAddress.Any;
        }
        else if (!IPAddress.TryParse(first, out address!) || address.AddressFamily != AddressFamily.InterNetwork)
        {
            throw new ArgumentException($"'{words[0]}': the first bind address must be IPv4 or * (Basalt listens on the first address only, over IPv4)");
        }

        return (string.Join(' ', words), address);
    }

    /// <summary>"seconds changes" pairs; an empty value turns snapshots off (Redis: save "").</summary>
    private static string ParseSave(string v)
    {
        var words = v.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length % 2 != 0)
        {
            throw new FormatException("Invalid save parameters");
        }

        // As Redis reads them, with strtoll: a sign is allowed; seconds must be at least 1, changes at least 0.
        // Kept as the numbers read, so "+5 1" reads back as "5 1", as in Redis.
        var numbers = new long[words.Length];
        for (var i = 0; i < words.Length; i++)
        {
            if (!long.TryParse(words[i], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out numbers[i]) || numbers[i] < (i % 2 == 0 ? 1 : 0))
            {
                throw new FormatException("Invalid save parameters");
            }
        }

        return string.Join(' ', numbers);
    }

    private void Define<T>(string name, SettingType type, string defaultValue, bool mutable, Func<string> get, Func<string, T> parse, Action<T> store, bool appendsInFile = false)
    {
        Action Prepare(string value)
        {
            var parsed = parse(value);
            return () => store(parsed);
        }

        var s = new Setting(name, type, defaultValue, mutable, get, Prepare) { AppendsInFile = appendsInFile };
        _settings.Add(name, s);
        _ordered.Add(s);
    }
}

/// <summary>
/// How shard loop threads are scheduled. <see cref="Batch"/> (SCHED_BATCH) keeps a woken loop from preempting
/// the thread running on its core, so loops that wake each other take turns instead of preempting each
/// other; an idle core still takes a woken loop at once. <see cref="Normal"/> is SCHED_OTHER: a woken loop
/// preempts at once, at the price of that churn. docs/architecture.md has the measurements.
/// </summary>
public enum ShardSchedPolicy
{
    Batch,
    Normal,
}

/// <summary>Redis's enable-debug-command: DEBUG is refused, allowed for every client, or for loopback clients only.</summary>
public enum DebugCommandMode
{
    No,
    Yes,
    Local,
}

public sealed class ConfigException(string message) : Exception(message);
