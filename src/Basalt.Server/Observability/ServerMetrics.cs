using System.Diagnostics.Metrics;
using Basalt.Protocol;
using Basalt.Server.Shards;

namespace Basalt.Server.Observability;

/// <summary>
/// Every metric instrument the server has, created here once when the server is built and handed
/// to its users (invariant 4). Each server owns its own <see cref="Meter"/>, so two servers in one
/// process (tests) never share or double-register an instrument.
///
/// Hot-path numbers are counted by each loop into its own <see cref="LoopStats"/> (owner-written,
/// no shared cache lines) and exposed here through observable instruments read at scrape time; 64-bit
/// reads of them from the scrape thread are atomic, and a counter read mid-update is off by one at most.
/// Latency is the exception: a histogram the loops record into, aggregated per thread by the exporter.
/// </summary>
public sealed class ServerMetrics : IDisposable
{
    public const string MeterName = "Basalt.Server";

    /// <summary>Bucket bounds for command latency, in seconds: 10 µs to 1 s.</summary>
    public static readonly double[] LatencyBuckets =
        [0.00001, 0.000025, 0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1];

    internal ServerMetrics(BasaltServer server)
    {
        Meter = new Meter(MeterName, ServerInfo.Version);
        CommandDuration = Meter.CreateHistogram<double>(
            "basalt.command.duration",
            "s",
            "Time spent executing commands on their shard, by command family.",
            tags: null,
            advice: new InstrumentAdvice<double> { HistogramBucketBoundaries = LatencyBuckets });

        var commands = server.Commands.AllById.Count;
        var processed = new SeriesSeen(commands);
        var failed = new SeriesSeen(commands);
        var rejected = new SeriesSeen(commands);
        Meter.CreateObservableCounter("basalt.commands.processed", () => PerCommand(server, processed, static s => s.Calls), "{command}", "Commands executed, by command.");
        Meter.CreateObservableCounter("basalt.commands.failed", () => PerCommand(server, failed, static s => s.Failed), "{command}", "Commands that replied with an error while executing, by command.");
        Meter.CreateObservableCounter("basalt.commands.rejected", () => PerCommand(server, rejected, static s => s.Rejected), "{command}", "Commands refused before executing (arity, NOAUTH), by command.");
        Meter.CreateObservableGauge("basalt.clients.connected", () => server.ConnectedClients, "{client}", "Client connections open now.");
        Meter.CreateObservableGauge("basalt.clients.lingering", () => server.LingeringConnections, "{connection}", "Closing connections that are no longer clients (sending their last replies, or waiting out close-linger), their sockets still open.");
        Meter.CreateObservableCounter("basalt.clients.rejected", () => server.RejectedConnections, "{client}", "Connections refused at accept: maxclients, out of descriptors, protected mode or a full shard inbox.");
        var keys = new SeriesSeen(server.Options.Databases);
        var expiring = new SeriesSeen(server.Options.Databases);
        Meter.CreateObservableGauge("basalt.keys", () => PerDb(server, keys, static g => g.Keys), "{key}", "Keys per database.");
        Meter.CreateObservableGauge("basalt.keys.expiring", () => PerDb(server, expiring, static g => g.Expiring), "{key}", "Keys with a time to live, per database.");
        Meter.CreateObservableCounter("basalt.keys.expired", () => Sum(server, static l => Volatile.Read(ref l.Gauges.Expired)), "{key}", "Keys removed because their time to live passed.");

        // No eviction policy exists yet (maxmemory is not supported), so nothing is ever evicted;
        // like Redis's evicted_keys with maxmemory unset, the truthful value is zero.
        Meter.CreateObservableCounter("basalt.keys.evicted", static () => 0L, "{key}", "Keys evicted to stay under maxmemory.");
        Meter.CreateObservableGauge("basalt.memory.used", static () => BufferPool.UsedMemory, "By", "Managed heap in use plus big reply buffers mapped outside it (INFO used_memory).");
        Meter.CreateObservableCounter("basalt.shard.messages.sent", () => PerShard(server, static l => l.Stats.MessagesSent), "{message}", "Cross-shard messages posted by this shard's loop.");
        Meter.CreateObservableCounter("basalt.shard.messages.received", () => PerShard(server, static l => l.Stats.MessagesReceived), "{message}", "Cross-shard messages drained from this shard's inbox.");
        Meter.CreateObservableCounter("basalt.shard.wakes", () => PerShard(server, static l => l.Stats.Wakes), "{wake}", "Times this shard's loop returned from epoll_wait.");
        Meter.CreateObservableCounter("basalt.shard.drains_at_cap", () => PerShard(server, static l => l.Stats.DrainsAtCap), "{drain}", "Inbox drains that stopped at their cap and left work for the next turn.");
        Meter.CreateObservableCounter("basalt.net.read", () => PerShard(server, static l => l.Stats.BytesRead), "By", "Bytes read from clients, per shard.");
        Meter.CreateObservableCounter("basalt.net.written", () => PerShard(server, static l => l.Stats.BytesWritten), "By", "Bytes written to clients, per shard.");

        // The process's garbage collector, read from the runtime at scrape time. Process-wide: a second server in the
        // same process (tests) reports the same numbers. bench/alloc.py divides the allocated bytes by the requests a
        // run made, which is how invariant 7 (hot paths don't allocate) is checked on a running server.
        Meter.CreateObservableCounter("basalt.runtime.allocated", static () => GC.GetTotalAllocatedBytes(precise: false), "By", "Bytes allocated on the managed heap since the process started, by every thread.");
        Meter.CreateObservableCounter("basalt.runtime.gc.collections", static () => GcCollections(), "{collection}", "Garbage collections since the process started, by generation (a generation-2 collection counts in 0 and 1 too, as GC.CollectionCount does).");
        Meter.CreateObservableCounter("basalt.runtime.gc.reclaims", () => server.Reclaimer.Collections, "{collection}", "Background collections the server asked for after its shards dropped many values (MemoryReclaimer).");
        Meter.CreateObservableCounter("basalt.runtime.gc.pause", static () => GC.GetTotalPauseDuration().TotalSeconds, "s", "Time the garbage collector paused the process since it started.");
    }

    private static Measurement<long>[] GcCollections() =>
    [
        new(GC.CollectionCount(0), new KeyValuePair<string, object?>("generation", "0")),
        new(GC.CollectionCount(1), new KeyValuePair<string, object?>("generation", "1")),
        new(GC.CollectionCount(2), new KeyValuePair<string, object?>("generation", "2")),
    ];

    public Meter Meter { get; }

    /// <summary>Recorded by the shard loops after each command; tagged with the command's family.</summary>
    public Histogram<double> CommandDuration { get; }

    public void Dispose() => Meter.Dispose();

    private static List<Measurement<long>> PerCommand(BasaltServer server, SeriesSeen seen, Func<LoopStats, long[]> counter)
    {
        var specs = server.Commands.AllById;
        var totals = new long[specs.Count];
        foreach (var loop in server.Loops)
        {
            var values = counter(loop.Stats);
            for (var i = 0; i < totals.Length; i++)
            {
                totals[i] += Volatile.Read(ref values[i]);
            }
        }

        var result = new List<Measurement<long>>();
        for (var i = 0; i < totals.Length; i++)
        {
            if (seen.Keep(i, totals[i]))
            {
                result.Add(new Measurement<long>(totals[i], new KeyValuePair<string, object?>("command", specs[i].FullName)));
            }
        }

        return result;
    }

    private static List<Measurement<long>> PerShard(BasaltServer server, Func<ShardLoop, long> counter)
    {
        var result = new List<Measurement<long>>(server.Loops.Length);
        foreach (var loop in server.Loops)
        {
            result.Add(new Measurement<long>(counter(loop), new KeyValuePair<string, object?>("shard", loop.Id.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }

        return result;
    }

    private static long Sum(BasaltServer server, Func<ShardLoop, long> counter)
    {
        var total = 0L;
        foreach (var loop in server.Loops)
        {
            total += counter(loop);
        }

        return total;
    }

    /// <summary>
    /// Which labelled series of one instrument have been exported. A series appears with its first
    /// non-zero value and from then on is exported at every scrape, 0 included: a gauge that vanished
    /// when its database emptied would read as "no data" rather than 0, and a counter zeroed by
    /// CONFIG RESETSTAT must show the reset. Read and written only by scrape callbacks, which the
    /// exporter runs one scrape at a time.
    /// </summary>
    private sealed class SeriesSeen(int count)
    {
        private readonly bool[] _seen = new bool[count];

        public bool Keep(int index, long value)
        {
            if (value != 0)
            {
                _seen[index] = true;
            }

            return _seen[index];
        }
    }

    /// <summary>Per-db key counts as each loop last published them (see <see cref="BasaltServer.PublishGaugesAsync"/>).</summary>
    private static List<Measurement<long>> PerDb(BasaltServer server, SeriesSeen seen, Func<ShardGauges, long[]> pick)
    {
        var totals = new long[server.Options.Databases];
        foreach (var loop in server.Loops)
        {
            var values = pick(loop.Gauges);
            for (var d = 0; d < totals.Length; d++)
            {
                totals[d] += Volatile.Read(ref values[d]);
            }
        }

        var result = new List<Measurement<long>>();
        for (var d = 0; d < totals.Length; d++)
        {
            if (seen.Keep(d, totals[d]))
            {
                result.Add(new Measurement<long>(totals[d], new KeyValuePair<string, object?>("db", d.ToString(System.Globalization.CultureInfo.InvariantCulture))));
            }
        }

        return result;
    }
}
