using System.Diagnostics.Metrics;
using System.Globalization;
using System.Text;

namespace Basalt.Server.Observability;

/// <summary>
/// Prometheus text exposition (format 0.0.4) over one <see cref="Meter"/>'s instruments. Written by
/// hand because the Prometheus exporters are not on this NuGet mirror; it covers counters, gauges and
/// histograms, which are all the server has.
///
/// The listener subscribes by Meter reference, not by name, so a second server in the same process
/// (with a Meter of the same name) is never exported here. Observable instruments are read on the
/// scrape thread; histogram measurements arrive on the shard loops and are summed into per-thread
/// cells, so recording takes no lock and shares no cache line.
/// </summary>
public sealed class PrometheusExporter : IDisposable
{
    public const string ContentType = "text/plain; version=0.0.4; charset=utf-8";

    private readonly MeterListener _listener = new();
    private readonly List<Instrument> _instruments = [];
    private readonly Dictionary<Instrument, HistogramCells> _histograms = [];
    private readonly Lock _scrapeLock = new();

    // Filled by observable callbacks during one scrape, under _scrapeLock.
    private readonly Dictionary<Instrument, List<(KeyValuePair<string, object?>[] Tags, double Value)>> _observed = [];

    public PrometheusExporter(Meter meter)
    {
        _listener.InstrumentPublished = (instrument, listener) =>
        {
            if (!ReferenceEquals(instrument.Meter, meter))
            {
                return;
            }

            lock (_scrapeLock)
            {
                _instruments.Add(instrument);
            }

            HistogramCells? cells = null;
            if (instrument is Histogram<double> h)
            {
                cells = new HistogramCells(h.Advice?.HistogramBucketBoundaries?.ToArray() ?? ServerMetrics.LatencyBuckets);
                lock (_scrapeLock)
                {
                    _histograms[h] = cells;
                }
            }

            listener.EnableMeasurementEvents(instrument, cells);
        };
        _listener.SetMeasurementEventCallback<long>((i, v, tags, state) => OnObserved(i, v, tags));
        _listener.SetMeasurementEventCallback<int>((i, v, tags, state) => OnObserved(i, v, tags));
        _listener.SetMeasurementEventCallback<double>((i, v, tags, state) =>
        {
            if (state is HistogramCells cells)
            {
                cells.Record(v, tags);
            }
            else
            {
                OnObserved(i, v, tags);
            }
        });
        _listener.Start();
    }

    /// <summary>Reads every instrument and writes the exposition text.</summary>
    public string Scrape()
    {
        lock (_scrapeLock)
        {
            _observed.Clear();
            _listener.RecordObservableInstruments();
            var sb = new StringBuilder(8192);
            foreach (var instrument in _instruments)
            {
                WriteFamily(sb, instrument);
            }

            return sb.ToString();
        }
    }

    public void Dispose() => _listener.Dispose();

    /// <summary>The Prometheus name: dots to underscores, the unit as a suffix, "_total" on counters.</summary>
    public static string FamilyName(Instrument instrument)
    {
        var sb = new StringBuilder(instrument.Name.Length + 16);
        foreach (var ch in instrument.Name)
        {
            sb.Append(char.IsAsciiLetterOrDigit(ch) || ch is '_' or ':' ? ch : '_');
        }

        var suffix = instrument.Unit switch
        {
            "s" => "_seconds",
            "By" => "_bytes",
            _ => string.Empty,
        };
        sb.Append(suffix);
        if (IsCounter(instrument))
        {
            sb.Append("_total");
        }

        return sb.ToString();
    }

    /// <summary>Label values escape backslash, double quote and newline (exposition format 0.0.4).</summary>
    public static string EscapeLabelValue(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\"", "\\\"", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>HELP text escapes backslash and newline only.</summary>
    public static string EscapeHelp(string value) =>
        value.Replace("\\", "\\\\", StringComparison.Ordinal).Replace("\n", "\\n", StringComparison.Ordinal);

    /// <summary>
    /// A sample value or bucket bound as Go's Prometheus client writes it (shortest round-trip digits,
    /// a lower-case exponent with at least two digits: <c>1e-05</c>), so an <c>le</c> label names the same
    /// series as other exporters' for the same bound.
    /// </summary>
    public static string FormatValue(double v) =>
        double.IsPositiveInfinity(v) ? "+Inf" : double.IsNegativeInfinity(v) ? "-Inf" : double.IsNaN(v) ? "NaN" : v.ToString("R", CultureInfo.InvariantCulture).Replace('E', 'e');

    private static bool IsCounter(Instrument i) =>
        i.GetType().IsGenericType && i.GetType().GetGenericTypeDefinition() is var d && (d == typeof(Counter<>) || d == typeof(ObservableCounter<>));

    private static string TypeName(Instrument i)
    {
        if (IsCounter(i))
        {
            return "counter";
        }

        return i is Histogram<double> ? "histogram" : "gauge";
    }

    private void OnObserved(Instrument instrument, double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        // Only observable instruments reach here, and only from RecordObservableInstruments inside Scrape,
        // which holds _scrapeLock on this same thread.
        if (!_observed.TryGetValue(instrument, out var list))
        {
            _observed[instrument] = list = [];
        }

        list.Add((tags.ToArray(), value));
    }

    private void WriteFamily(StringBuilder sb, Instrument instrument)
    {
        var name = FamilyName(instrument);
        sb.Append("# HELP ").Append(name).Append(' ').Append(EscapeHelp(instrument.Description ?? instrument.Name)).Append('\n');
        sb.Append("# TYPE ").Append(name).Append(' ').Append(TypeName(instrument)).Append('\n');
        if (instrument is Histogram<double> h)
        {
            WriteHistogram(sb, name, h);
            return;
        }

        if (_observed.TryGetValue(instrument, out var samples))
        {
            foreach (var (tags, value) in samples)
            {
                sb.Append(name);
                WriteLabels(sb, tags, null);
                sb.Append(' ').Append(FormatValue(value)).Append('\n');
            }
        }
    }

    private void WriteHistogram(StringBuilder sb, string name, Histogram<double> h)
    {
        if (!_histograms.TryGetValue(h, out var cells))
        {
            return;
        }

        foreach (var series in cells.Snapshot())
        {
            long cumulative = 0;
            for (var b = 0; b <= cells.Bounds.Length; b++)
            {
                cumulative += series.Counts[b];
                sb.Append(name).Append("_bucket");
                WriteLabels(sb, series.Tags, b < cells.Bounds.Length ? FormatValue(cells.Bounds[b]) : "+Inf");
                sb.Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
            }

            sb.Append(name).Append("_sum");
            WriteLabels(sb, series.Tags, null);
            sb.Append(' ').Append(FormatValue(series.Sum)).Append('\n');
            sb.Append(name).Append("_count");
            WriteLabels(sb, series.Tags, null);
            sb.Append(' ').Append(cumulative.ToString(CultureInfo.InvariantCulture)).Append('\n');
        }
    }

    private static void WriteLabels(StringBuilder sb, KeyValuePair<string, object?>[] tags, string? le)
    {
        if (tags.Length == 0 && le is null)
        {
            return;
        }

        sb.Append('{');
        var first = true;
        foreach (var (key, value) in tags)
        {
            if (!first)
            {
                sb.Append(',');
            }

            first = false;
            sb.Append(key).Append("=\"").Append(EscapeLabelValue(Convert.ToString(value, CultureInfo.InvariantCulture) ?? string.Empty)).Append('"');
        }

        if (le is not null)
        {
            sb.Append(first ? string.Empty : ",").Append("le=\"").Append(le).Append('"');
        }

        sb.Append('}');
    }
}
