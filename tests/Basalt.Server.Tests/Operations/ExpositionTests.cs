using System.Diagnostics.Metrics;
using Basalt.Server.Observability;
using Basalt.Testing;

namespace Basalt.Server.Tests.Operations;

/// <summary>The hand-written exporter against the text format, and the strict parser against known-bad input.</summary>
public sealed class ExpositionTests
{
    [Fact]
    public void Label_values_with_quotes_backslashes_and_newlines_round_trip()
    {
        using var meter = new Meter("test.escaping");
        using var exporter = new PrometheusExporter(meter);
        const string Tricky = "a \"quoted\" \\ back\nslash";
        meter.CreateObservableGauge("test.gauge", () => new Measurement<long>(7, new KeyValuePair<string, object?>("name", Tricky)), description: "help with \\ and\nnewline");

        var text = exporter.Scrape();
        Assert.Contains("test_gauge{name=\"a \\\"quoted\\\" \\\\ back\\nslash\"} 7\n", text, StringComparison.Ordinal);
        var family = ExpositionParser.Parse(text)["test_gauge"];
        Assert.Equal("gauge", family.Type);
        Assert.Equal("help with \\ and\nnewline", family.Help);
        Assert.Equal(7, family.Value(("name", Tricky)));
    }

    [Fact]
    public void Histograms_have_cumulative_buckets_an_Inf_bucket_sum_and_count()
    {
        using var meter = new Meter("test.histogram");
        using var exporter = new PrometheusExporter(meter);
        var h = meter.CreateHistogram<double>("test.latency", "s", "Latency.", null, new InstrumentAdvice<double> { HistogramBucketBoundaries = [0.1, 1] });
        var tag = new KeyValuePair<string, object?>("family", "string");
        h.Record(0.05, tag);
        h.Record(0.5, tag);
        h.Record(5, tag);
        var recorder = new Thread(() => h.Record(0.07, tag));
        recorder.Start();
        recorder.Join();

        var text = exporter.Scrape();
        var family = ExpositionParser.Parse(text)["test_latency_seconds"];
        Assert.Equal("histogram", family.Type);
        double Bucket(string le) => family.Samples.Single(s => s.Name == "test_latency_seconds_bucket" && s.Labels["le"] == le).Value;
        Assert.Equal(2, Bucket("0.1"));
        Assert.Equal(3, Bucket("1"));
        Assert.Equal(4, Bucket("+Inf"));
        Assert.Equal(4, family.Samples.Single(s => s.Name == "test_latency_seconds_count").Value);
        Assert.Equal(5.62, family.Samples.Single(s => s.Name == "test_latency_seconds_sum").Value, 6);
    }

    [Fact]
    public void Counters_get_total_and_unit_suffixes()
    {
        using var meter = new Meter("test.names");
        using var exporter = new PrometheusExporter(meter);
        meter.CreateObservableCounter("test.net.read", () => 10L, "By");
        meter.CreateObservableCounter("test.commands", () => 3L, "{command}");
        var families = ExpositionParser.Parse(exporter.Scrape());
        Assert.Equal("counter", families["test_net_read_bytes_total"].Type);
        Assert.Equal(3, families["test_commands_total"].Value());
    }

    [Fact]
    public void An_exporter_sees_only_its_own_meter_even_with_the_same_name()
    {
        using var mine = new Meter("same.name");
        using var other = new Meter("same.name");
        using var exporter = new PrometheusExporter(mine);
        mine.CreateObservableGauge("test.g", () => 1L);
        other.CreateObservableGauge("test.g", () => 2L);
        var families = ExpositionParser.Parse(exporter.Scrape());
        Assert.Equal(1, families["test_g"].Value());
    }

    [Fact]
    public void Recording_a_latency_measurement_allocates_nothing()
    {
        using var meter = new Meter("test.alloc");
        using var exporter = new PrometheusExporter(meter);
        var h = meter.CreateHistogram<double>("test.latency", "s");
        var tag = new KeyValuePair<string, object?>("family", "string");
        h.Record(0.001, tag); // first measurement on this thread creates its cells

        Assert.Equal(0, Allocations.FewestPerRound(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                h.Record(i * 1e-6, tag);
            }
        }));
    }

    [Theory]
    [InlineData("x 1\n", "no TYPE line")]
    [InlineData("# TYPE x gauge\nx 1", "end with a line feed")]
    [InlineData("# TYPE x gauge\n# TYPE x gauge\nx 1\n", "second TYPE")]
    [InlineData("# TYPE x gauge\nx{a=\"\\t\"} 1\n", "bad escape")]
    [InlineData("# TYPE x gauge\nx{a=\"1\",a=\"2\"} 1\n", "twice")]
    [InlineData("# TYPE x gauge\nx 1\nx 2\n", "duplicate series")]
    [InlineData("# TYPE x gauge\n# TYPE y gauge\nx 1\ny 1\nx{a=\"b\"} 1\n", "not in one group")]
    [InlineData("# TYPE x counter\nx -1\n", "counter x")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 1\nh_sum 1\nh_count 1\n", "+Inf")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"1\"} 2\nh_bucket{le=\"+Inf\"} 1\nh_sum 1\nh_count 1\n", "never fall")]
    [InlineData("# TYPE h histogram\nh_bucket{le=\"+Inf\"} 2\nh_sum 1\nh_count 1\n", "_count 1 != +Inf bucket 2")]
    [InlineData("# TYPE 1x gauge\n", "bad metric name")]
    public void The_strict_parser_rejects_what_the_format_forbids(string text, string reason)
    {
        var ex = Assert.Throws<FormatException>(() => ExpositionParser.Parse(text));
        Assert.Contains(reason, ex.Message, StringComparison.Ordinal);
    }
}
