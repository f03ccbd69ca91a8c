using System.Globalization;
using System.Text;

namespace Basalt.Server;

/// <summary>
/// The one table of settings: each has a name, a default, whether it may change at runtime, and a
/// parser that validates and applies it. redis.conf files, command-line flags and CONFIG GET/SET
/// all go through this table, so a setting is defined in exactly one place.
/// </summary>
public sealed class ServerConfig
{
    private readonly Dictionary<string, Setting> _settings = new(StringComparer.OrdinalIgnoreCase);

    public ServerConfig()
    {
        Add("bind", false, () => Bind, v => Bind = v.Trim());
        Add("port", false, () => Port.ToString(CultureInfo.InvariantCulture), v => Port = ParseInt(v, 0, 65535));
        Add("shards", false, () => Shards.ToString(CultureInfo.InvariantCulture), v => Shards = ParseInt(v, 1, 1024));
        Add("dir", false, () => Dir, v => Dir = v);
        Add("databases", false, () => Databases.ToString(CultureInfo.InvariantCulture), v => Databases = ParseInt(v, 1, 1024));
        Add("maxclients", true, () => MaxClients.ToString(CultureInfo.InvariantCulture), v => MaxClients = ParseInt(v, 1, MaxClientsCeiling ?? 1_000_000));
        Add("requirepass", true, () => RequirePass, v => RequirePass = v);
        Add("proto-max-bulk-len", true, () => ProtoMaxBulkLen.ToString(CultureInfo.InvariantCulture), v => ProtoMaxBulkLen = ParseMemory(v, 1024 * 1024, long.MaxValue));
        Add("client-query-buffer-limit", true, () => QueryBufferLimit.ToString(CultureInfo.InvariantCulture), v => QueryBufferLimit = ParseMemory(v, 1024 * 1024, int.MaxValue));
        Add("client-output-buffer-limit", true, () => $"normal {OutputHardLimitBytes} 0 0", ParseOutputLimit);
        Add("hz", true, () => Hz.ToString(CultureInfo.InvariantCulture), v => Hz = ParseInt(v, 1, 500));
        Add("loglevel", true, () => LogLevel.ToString().ToLowerInvariant(), v => LogLevel = Enum.Parse<LogLevel>(v, ignoreCase: true));
        Add("protected-mode", true, () => ProtectedMode ? "yes" : "no", v => ProtectedMode = ParseBool(v));
    }

    public string Bind { get; private set; } = "127.0.0.1";

    public int Port { get; private set; } = 6379;

    public int Shards { get; private set; } = Environment.ProcessorCount;

    public string Dir { get; private set; } = "./data";

    public int Databases { get; private set; } = 16;

    public int MaxClients { get; private set; } = 10000;

    public string RequirePass { get; private set; } = string.Empty;

    /// <summary>
    /// Set at startup: the shard inboxes are sized for this many clients, so maxclients may be lowered
    /// at runtime but not raised past it (raising it needs a restart).
    /// </summary>
    public int? MaxClientsCeiling { get; set; }

    public long ProtoMaxBulkLen { get; private set; } = 512L * 1024 * 1024;

    public long QueryBufferLimit { get; private set; } = 1024L * 1024 * 1024;

    /// <summary>A client whose unsent replies pass this many bytes is disconnected (client-output-buffer-limit normal).</summary>
    public long OutputHardLimitBytes { get; private set; } = 256L * 1024 * 1024;

    /// <summary>Above this many unsent bytes a client's requests are not read until it reads its replies.</summary>
    public long OutputPauseBytes { get; } = 1024 * 1024;

    public int Hz { get; private set; } = 10;

    public LogLevel LogLevel { get; private set; } = LogLevel.Notice;

    public bool ProtectedMode { get; private set; } = true;

    public IEnumerable<string> Names => _settings.Keys;

    public bool IsKnown(string name) => _settings.ContainsKey(name);

    public bool IsMutable(string name) => _settings.TryGetValue(name, out var s) && s.Mutable;

    public string Get(string name) => _settings[name].Get();

    /// <summary>Validates and applies one value; on failure returns the reason and changes nothing.</summary>
    public string? TrySet(string name, string value)
    {
        if (!_settings.TryGetValue(name, out var s))
        {
            return $"unknown setting '{name}'";
        }

        var old = s.Get();
        try
        {
            s.Set(value);
            return null;
        }
        catch (Exception ex) when (ex is FormatException or ArgumentException or OverflowException)
        {
            s.Set(old);
            return ex.Message;
        }
    }

    /// <summary>Applies redis-server style arguments: an optional config file, then --name value… flags.</summary>
    public void ApplyArguments(string[] args)
    {
        var i = 0;
        if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            ConfigFile = Path.GetFullPath(args[0]);
            ApplyFile(ConfigFile);
            i = 1;
        }

        for (; i < args.Length; i++)
        {
            if (!args[i].StartsWith("--", StringComparison.Ordinal))
            {
                throw new ConfigException($"argument '{args[i]}': expected --name value");
            }

            var name = args[i][2..];
            var values = new List<string>();
            while (i + 1 < args.Length && !args[i + 1].StartsWith("--", StringComparison.Ordinal))
            {
                values.Add(args[++i]);
            }

            var error = TrySet(name, string.Join(' ', values));
            if (error is not null)
            {
                throw new ConfigException($"argument '--{name}': {error}");
            }
        }
    }

    public string? ConfigFile { get; private set; }

    private void ApplyFile(string path)
    {
        if (!File.Exists(path))
        {
            throw new ConfigException($"{path}: no such file");
        }

        var lineNo = 0;
        foreach (var raw in File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var words = SplitLine(line) ?? throw new ConfigException($"{path}:{lineNo}: unbalanced quotes");
            var error = TrySet(words[0], string.Join(' ', words.Skip(1)));
            if (error is not null)
            {
                throw new ConfigException($"{path}:{lineNo}: '{words[0]}': {error}");
            }
        }
    }

    /// <summary>Splits a redis.conf line into words, honouring "double" and 'single' quotes.</summary>
    internal static List<string>? SplitLine(string line)
    {
        var words = new List<string>();
        var sb = new StringBuilder();
        var i = 0;
        while (i < line.Length)
        {
            while (i < line.Length && char.IsWhiteSpace(line[i]))
            {
                i++;
            }

            if (i >= line.Length)
            {
                break;
            }

            sb.Clear();
            if (line[i] is '"' or '\'')
            {
                var q = line[i++];
                while (i < line.Length && line[i] != q)
                {
                    if (q == '"' && line[i] == '\\' && i + 1 < line.Length)
                    {
                        i++;
                    }

                    sb.Append(line[i++]);
                }

                if (i >= line.Length)
                {
                    return null;
                }

                i++;
            }
            else
            {
                while (i < line.Length && !char.IsWhiteSpace(line[i]))
                {
                    sb.Append(line[i++]);
                }
            }

            words.Add(sb.ToString());
        }

        return words;
    }

    private static int ParseInt(string v, int min, int max)
    {
        if (!int.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n))
        {
            throw new FormatException("argument couldn't be parsed into an integer");
        }

        return n < min || n > max ? throw new ArgumentException($"argument must be between {min} and {max} inclusive") : n;
    }

    private static bool ParseBool(string v) => v.ToLowerInvariant() switch
    {
        "yes" => true,
        "no" => false,
        _ => throw new FormatException("argument must be 'yes' or 'no'"),
    };

    /// <summary>Memory sizes as redis.conf writes them: 1gb, 512mb, 64k, or plain bytes.</summary>
    internal static long ParseMemory(string v, long min, long max)
    {
        v = v.Trim().ToLowerInvariant();
        long unit = 1;
        foreach (var (suffix, mul) in new[] { ("gb", 1L << 30), ("mb", 1L << 20), ("kb", 1L << 10), ("g", 1_000_000_000L), ("m", 1_000_000L), ("k", 1000L), ("b", 1L) })
        {
            if (v.EndsWith(suffix, StringComparison.Ordinal))
            {
                unit = mul;
                v = v[..^suffix.Length];
                break;
            }
        }

        if (!long.TryParse(v, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n > max / unit)
        {
            throw new FormatException("argument must be a memory value");
        }

        var bytes = n * unit;
        return bytes < min ? throw new ArgumentException($"argument must be at least {min} bytes") : bytes;
    }

    private void ParseOutputLimit(string v)
    {
        var parts = v.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (parts.Length % 4 != 0 || parts.Length == 0)
        {
            throw new FormatException("wrong number of arguments");
        }

        for (var i = 0; i < parts.Length; i += 4)
        {
            if (!parts[i].Equals("normal", StringComparison.OrdinalIgnoreCase))
            {
                throw new ArgumentException("only the 'normal' client class exists in Basalt");
            }

            var hard = ParseMemory(parts[i + 1], 0, long.MaxValue);
            OutputHardLimitBytes = hard == 0 ? long.MaxValue : hard;
        }
    }

    private void Add(string name, bool mutable, Func<string> get, Action<string> set) =>
        _settings[name] = new Setting(mutable, get, set);

    private sealed record Setting(bool Mutable, Func<string> Get, Action<string> Set);
}

public sealed class ConfigException(string message) : Exception(message);
