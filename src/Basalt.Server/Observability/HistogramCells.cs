namespace Basalt.Server.Observability;

/// <summary>
/// A histogram's running counts, kept per recording thread: each shard loop adds to its own cells
/// with plain writes (no lock, no shared cache line), and a scrape sums the cells of every thread.
/// The count is derived from the buckets at scrape time, so _count always equals the +Inf bucket.
/// </summary>
internal sealed class HistogramCells(double[] bounds)
{
    // The recording thread's most recent series: a loop records the same few label sets over and over,
    // so this check usually ends the lookup without touching the thread's list.
    [ThreadStatic]
    private static Series? t_last;

    private readonly ThreadLocal<List<Series>> _perThread = new(static () => [], trackAllValues: true);

    public double[] Bounds { get; } = bounds;

    public void Record(double value, ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var series = t_last;
        if (series is null || !ReferenceEquals(series.Owner, this) || !series.Matches(tags))
        {
            series = Find(tags);
            t_last = series;
        }

        var b = 0;
        var bounds = Bounds;
        while (b < bounds.Length && value > bounds[b])
        {
            b++;
        }

        Volatile.Write(ref series.Counts[b], series.Counts[b] + 1);
        Volatile.Write(ref series.Sum, series.Sum + value);
    }

    private Series Find(ReadOnlySpan<KeyValuePair<string, object?>> tags)
    {
        var list = _perThread.Value!;
        Series? series = null;
        foreach (var s in list)
        {
            if (s.Matches(tags))
            {
                series = s;
                break;
            }
        }

        if (series is null)
        {
            // First measurement of this label set on this thread: the only allocation, once per thread and series.
            series = new Series(this, tags.ToArray(), Bounds.Length + 1);
            lock (list)
            {
                list.Add(series);
            }
        }

        return series;
    }

    /// <summary>Every label set's counts, summed across threads.</summary>
    public List<Series> Snapshot()
    {
        var merged = new List<Series>();
        foreach (var list in _perThread.Values)
        {
            Series[] copy;
            lock (list)
            {
                copy = [.. list];
            }

            foreach (var s in copy)
            {
                var target = merged.Find(m => m.Matches(s.Tags));
                if (target is null)
                {
                    target = new Series(this, s.Tags, s.Counts.Length);
                    merged.Add(target);
                }

                for (var i = 0; i < s.Counts.Length; i++)
                {
                    target.Counts[i] += Volatile.Read(ref s.Counts[i]);
                }

                target.Sum += Volatile.Read(ref s.Sum);
            }
        }

        return merged;
    }

    internal sealed class Series(HistogramCells owner, KeyValuePair<string, object?>[] tags, int buckets)
    {
#pragma warning disable CA1051 // Fields, so Volatile can take them by ref across threads.
        public double Sum;
#pragma warning restore CA1051

        public HistogramCells Owner { get; } = owner;

        public KeyValuePair<string, object?>[] Tags { get; } = tags;

        public long[] Counts { get; } = new long[buckets];

        public bool Matches(ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            if (tags.Length != Tags.Length)
            {
                return false;
            }

            for (var i = 0; i < tags.Length; i++)
            {
                if (!string.Equals(tags[i].Key, Tags[i].Key, StringComparison.Ordinal) ||
                    !(ReferenceEquals(tags[i].Value, Tags[i].Value) || Equals(tags[i].Value, Tags[i].Value)))
                {
                    return false;
                }
            }

            return true;
        }
    }
}
