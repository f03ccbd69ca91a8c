using System.Diagnostics;
using System.Globalization;
using System.Text;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Server.Shards;

namespace Basalt.Server.Commands;

/// <summary>
/// INFO [section ...]. Each loop reports its own keyspace and counters in one phase; the
/// coordinator adds them up. Only fields Basalt can fill truthfully are present.
/// </summary>
internal sealed class InfoOp : LoopOp
{
    public override bool SinglePhase => true;

    private static readonly string[] DefaultSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "errorstats", "cluster", "keyspace"];
    private static readonly string[] AllSections = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "commandstats", "errorstats", "cluster", "keyspace"];

    private readonly HashSet<string> _sections;
    private readonly long[][] _keys;
    private readonly long[][] _expires;
    private readonly long[] _expired;
    private readonly long[] _hits;
    private readonly long[] _misses;
    private readonly long[] _commands;
    private readonly long[] _bytesRead;
    private readonly long[] _bytesWritten;
    private readonly long[][] _calls;
    private readonly long[][] _ticks;
    private readonly long[][] _failed;
    private readonly long[][] _rejected;
    private readonly long[] _errorReplies;
    private readonly Dictionary<string, long>[] _errorCodes;
    private BasaltServer? _server;

    public InfoOp(in OpRequest r)
        : base(r)
    {
        _sections = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        for (var i = 1; i < Args.Count; i++)
        {
            var s = Encoding.UTF8.GetString(Syntax.CString(Args[i])).ToLowerInvariant(); // section names are C strings in Redis
            switch (s)
            {
                case "all" or "everything":
                    _sections.UnionWith(AllSections);
                    break;
                case "default":
                    _sections.UnionWith(DefaultSections);
                    break;
                default:
                    _sections.Add(s);
                    break;
            }
        }

        if (Args.Count == 1)
        {
            _sections.UnionWith(DefaultSections);
        }

        var n = Slots.ShardCount;
        _keys = new long[n][];
        _expires = new long[n][];
        _expired = new long[n];
        _hits = new long[n];
        _misses = new long[n];
        _commands = new long[n];
        _bytesRead = new long[n];
        _bytesWritten = new long[n];
        _calls = new long[n][];
        _ticks = new long[n][];
        _failed = new long[n][];
        _rejected = new long[n][];
        _errorReplies = new long[n];
        _errorCodes = new Dictionary<string, long>[n];
        RouteAll();
    }

    public override void RunOnLoop(ShardLoop loop, int phase)
    {
        var id = loop.Id;
        _server = loop.Server;
        var dbs = loop.Store.Dbs;
        _keys[id] = new long[dbs.Length];
        _expires[id] = new long[dbs.Length];
        for (var d = 0; d < dbs.Length; d++)
        {
            _keys[id][d] = dbs[d].Count;
            _expires[id][d] = dbs[d].VolatileCount;
        }

        _expired[id] = loop.Store.Stats.ExpiredKeys;
        _hits[id] = loop.Store.Stats.KeyspaceHits;
        _misses[id] = loop.Store.Stats.KeyspaceMisses;
        _commands[id] = loop.Stats.CommandsProcessed;
        _bytesRead[id] = loop.Stats.BytesRead;
        _bytesWritten[id] = loop.Stats.BytesWritten;
        _calls[id] = (long[])loop.Stats.Calls.Clone();
        _ticks[id] = (long[])loop.Stats.Ticks.Clone();
        _failed[id] = (long[])loop.Stats.Failed.Clone();
        _rejected[id] = (long[])loop.Stats.Rejected.Clone();
        _errorReplies[id] = loop.Stats.ErrorReplies;
        _errorCodes[id] = new Dictionary<string, long>(loop.Stats.ErrorCodes, StringComparer.Ordinal);
    }

    public override void Reply(ReplyBuffer reply)
    {
        var server = _server!;
        var sb = new StringBuilder();
        var inv = CultureInfo.InvariantCulture;
        void Section(string name, Action body)
        {
            if (!_sections.Contains(name))
            {
                return;
            }

            if (sb.Length > 0)
            {
                sb.Append("\r\n");
            }

            var title = name == "cpu" ? "CPU" : char.ToUpperInvariant(name[0]) + name[1..];
            sb.Append("# ").Append(title).Append("\r\n");
            body();
        }

        void Field(string k, object v) => sb.Append(k).Append(':').Append(Convert.ToString(v, inv)).Append("\r\n");

        var uptime = (Environment.TickCount64 - server.StartedAtMs) / 1000;
        Section("server", () =>
        {
            Field("redis_version", ServerInfo.RedisVersion);
            Field("basalt_version", ServerInfo.Version);
            Field("redis_mode", "standalone");
            Field("os", ServerInfo.OperatingSystem);
            Field("arch_bits", IntPtr.Size * 8);
            Field("multiplexing_api", "epoll");
            Field("runtime", System.Runtime.InteropServices.RuntimeInformation.FrameworkDescription);
            Field("process_id", Environment.ProcessId);
            Field("process_supervised", "no");
            Field("run_id", server.RunId);
            Field("tcp_port", server.Port);
            Field("server_time_usec", (DateTime.UtcNow - DateTime.UnixEpoch).Ticks / 10);
            Field("uptime_in_seconds", uptime);
            Field("uptime_in_days", uptime / 86400);
            Field("hz", server.Config.Hz);
            Field("configured_hz", server.Config.Hz);
            Field("shards", server.Loops.Length);
            Field("executable", Environment.ProcessPath ?? string.Empty);
            Field("config_file", server.Config.ConfigFile ?? string.Empty);
        });
        Section("clients", () =>
        {
            Field("connected_clients", server.ConnectedClients);
            Field("cluster_connections", 0);
            Field("maxclients", server.Config.MaxClients);

            // No command blocks, tracks keys or waits on a timeout yet: these are true zeros, which tools such as
            // redis-cli --stat read.
            Field("blocked_clients", 0);
            Field("tracking_clients", 0);
            Field("clients_in_timeout_table", 0);
        });
        Section("memory", () =>
        {
            var heap = BufferPool.UsedMemory;
            Field("used_memory", heap);
            Field("used_memory_human", Human(heap));
            Field("used_memory_rss", Environment.WorkingSet);
            Field("used_memory_rss_human", Human(Environment.WorkingSet));
            Field("maxmemory", 0);
            Field("maxmemory_human", "0B");
            Field("maxmemory_policy", "noeviction");
        });
        Section("persistence", () =>
        {
            // Nothing is loaded, saved or rewritten yet (durability comes with the write-ahead log): true zeros,
            // which clients read (ioredis waits while loading is 1).
            Field("loading", 0);
            Field("async_loading", 0);
            Field("rdb_bgsave_in_progress", 0);
            Field("aof_enabled", 0);
            Field("aof_rewrite_in_progress", 0);
            Field("aof_rewrite_scheduled", 0);
        });
        Section("stats", () =>
        {
            Field("total_connections_received", server.ConnectionsReceived);
            Field("total_commands_processed", _commands.Sum());
            Field("total_net_input_bytes", _bytesRead.Sum());
            Field("total_net_output_bytes", _bytesWritten.Sum());
            Field("rejected_connections", server.RejectedConnections);
            Field("expired_keys", _expired.Sum());
            Field("evicted_keys", 0);
            Field("keyspace_hits", _hits.Sum());
            Field("keyspace_misses", _misses.Sum());
            Field("pubsub_channels", 0);
            Field("pubsub_patterns", 0);
            Field("pubsubshard_channels", 0);

            // Basalt never forks: snapshots are taken without one.
            Field("latest_fork_usec", 0);
            Field("total_forks", 0);
            Field("total_error_replies", _errorReplies.Sum());
        });
        Section("replication", () =>
        {
            Field("role", "master");
            Field("connected_slaves", 0);
        });
        Section("cpu", () =>
        {
            using var self = Process.GetCurrentProcess();
            Field("used_cpu_sys", Seconds(self.PrivilegedProcessorTime));
            Field("used_cpu_user", Seconds(self.UserProcessorTime));
            Field("used_cpu_sys_children", "0.000000");
            Field("used_cpu_user_children", "0.000000");
        });
        Section("commandstats", () =>
        {
            var table = server.Commands.AllById;
            for (var id = 0; id < table.Count; id++)
            {
                long calls = 0, ticks = 0, failed = 0, rejected = 0;
                for (var s = 0; s < _calls.Length; s++)
                {
                    calls += _calls[s][id];
                    ticks += _ticks[s][id];
                    failed += _failed[s][id];
                    rejected += _rejected[s][id];
                }

                if (calls == 0 && rejected == 0)
                {
                    continue;
                }

                var usec = ticks * 1_000_000 / Stopwatch.Frequency;
                var perCall = calls == 0 ? 0 : (double)usec / calls;
                sb.Append(inv, $"cmdstat_{table[id].FullName}:calls={calls},usec={usec},usec_per_call={perCall:F2},rejected_calls={rejected},failed_calls={failed}\r\n");
            }
        });
        Section("errorstats", () =>
        {
            var codes = new SortedDictionary<string, long>(StringComparer.Ordinal);
            foreach (var perLoop in _errorCodes)
            {
                foreach (var (code, count) in perLoop)
                {
                    codes[code] = codes.GetValueOrDefault(code) + count;
                }
            }

            foreach (var (code, count) in codes)
            {
                sb.Append(inv, $"errorstat_{code}:count={count}\r\n");
            }
        });
        Section("cluster", () => Field("cluster_enabled", 0));
        Section("keyspace", () =>
        {
            for (var d = 0; d < _keys[0].Length; d++)
            {
                long keys = 0, expires = 0;
                for (var s = 0; s < _keys.Length; s++)
                {
                    keys += _keys[s][d];
                    expires += _expires[s][d];
                }

                if (keys > 0)
                {
                    sb.Append(inv, $"db{d}:keys={keys},expires={expires}\r\n");
                }
            }
        });

        reply.Verbatim(Encoding.UTF8.GetBytes(sb.ToString()));
    }

    /// <summary>Seconds with six decimals, as Redis prints CPU time.</summary>
    private static string Seconds(TimeSpan t) => string.Create(CultureInfo.InvariantCulture, $"{t.Ticks / TimeSpan.TicksPerSecond}.{t.Ticks % TimeSpan.TicksPerSecond / 10:D6}");

    private static string Human(long bytes) => bytes switch
    {
        >= 1L << 30 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 30):F2}G"),
        >= 1L << 20 => string.Create(CultureInfo.InvariantCulture, $"{bytes / (double)(1L << 20):F2}M"),
        >= 1L << 10 => string.Create(CultureInfo.InvariantCulture, $"{bytes / 1024.0:F2}K"),
        _ => $"{bytes}B",
    };
}
