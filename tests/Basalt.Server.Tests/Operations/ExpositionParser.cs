using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;

namespace Basalt.Server.Tests.Operations;

/// <summary>
/// A strict reader of the Prometheus text exposition format 0.0.4, written from the format's rules:
/// it throws <see cref="FormatException"/> on anything a conforming scraper could reject, so a test
/// that parses /metrics with it checks the exporter against the format, not against itself.
/// </summary>
public static partial class ExpositionParser
{
    private static readonly string[] Types = ["counter", "gauge", "histogram", "summary", "untyped"];

    public static Dictionary<string, MetricFamily> Parse(string text)
    {
        if (text.Length > 0 && !text.EndsWith('\n'))
        {
            throw new FormatException("the exposition must end with a line feed");
        }

        if (text.Contains('\r', StringComparison.Ordinal))
        {
            throw new FormatException("carriage returns are not allowed");
        }

        var families = new Dictionary<string, MetricFamily>(StringComparer.Ordinal);
        var finished = new HashSet<string>(StringComparer.Ordinal);
        MetricFamily? current = null;
        var lineNo = 0;
        foreach (var line in text[..^1].Split('\n'))
        {
            lineNo++;
            try
            {
                if (line.Length == 0)
                {
                    continue;
                }

                if (line.StartsWith('#'))
                {
                    current = ParseComment(line, families, finished, current);
                    continue;
                }

                var sample = ParseSample(line);
                var family = FamilyOf(sample.Name, families);
                if (current is null || current.Name != family.Name)
                {
                    if (current is not null)
                    {
                        finished.Add(current.Name);
                    }

                    if (finished.Contains(family.Name))
                    {
                        throw new FormatException($"samples of '{family.Name}' are not in one group");
                    }

                    current = family;
                }

                var key = sample.Name + "{" + string.Join(",", sample.Labels.OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)) + "}";
                if (!family.SeriesKeys.Add(key))
                {
                    throw new FormatException($"duplicate series {key}");
                }

                if (family.Type == "counter" && (sample.Value < 0 || double.IsNaN(sample.Value)))
                {
                    throw new FormatException($"counter {sample.Name} has value {sample.Value}");
                }

                family.Samples.Add(sample);
            }
            catch (FormatException ex)
            {
                throw new FormatException($"line {lineNo}: {ex.Message}: '{line}'", ex);
            }
        }

        foreach (var f in families.Values.Where(f => f.Type == "histogram"))
        {
            CheckHistogram(f);
        }

        return families;
    }

    private static MetricFamily ParseComment(string line, Dictionary<string, MetricFamily> families, HashSet<string> finished, MetricFamily? current)
    {
        var parts = line.Split(' ', 4);
        if (parts.Length < 3 || parts[0] != "#" || parts[1] is not ("HELP" or "TYPE"))
        {
            return current!; // a plain comment
        }

        var name = parts[2];
        if (!MetricName().IsMatch(name))
        {
            throw new FormatException($"bad metric name '{name}'");
        }

        if (!families.TryGetValue(name, out var family))
        {
            families[name] = family = new MetricFamily(name);
        }
        else if (family.Samples.Count > 0)
        {
            throw new FormatException($"{parts[1]} for '{name}' after its samples");
        }

        if (current is not null && current.Name != name)
        {
            finished.Add(current.Name);
        }

        if (finished.Contains(name))
        {
            throw new FormatException($"'{name}' is described in two places");
        }

        if (parts[1] == "HELP")
        {
            if (family.Help is not null)
            {
                throw new FormatException($"second HELP for '{name}'");
            }

            family.Help = Unescape(parts.Length == 4 ? parts[3] : string.Empty, allowQuote: false);
        }
        else
        {
            if (family.Type is not null)
            {
                throw new FormatException($"second TYPE for '{name}'");
            }

            if (parts.Length != 4 || !Types.Contains(parts[3]))
            {
                throw new FormatException($"bad TYPE line for '{name}'");
            }

            family.Type = parts[3];
        }

        return family;
    }

    private static Sample ParseSample(string line)
    {
        var i = 0;
        while (i < line.Length && line[i] is not ('{' or ' '))
        {
            i++;
        }

        var name = line[..i];
        if (!MetricName().IsMatch(name))
        {
            throw new FormatException($"bad metric name '{name}'");
        }

        var labels = new Dictionary<string, string>(StringComparer.Ordinal);
        if (i < line.Length && line[i] == '{')
        {
            i++;
            while (line[i] != '}')
            {
                var eq = line.IndexOf('=', i);
                if (eq < 0)
                {
                    throw new FormatException("label without '='");
                }

                var label = line[i..eq];
                if (!LabelName().IsMatch(label) || label.StartsWith("__", StringComparison.Ordinal))
                {
                    throw new FormatException($"bad label name '{label}'");
                }

                if (line[eq + 1] != '"')
                {
                    throw new FormatException("label value not quoted");
                }

                var sb = new StringBuilder();
                var j = eq + 2;
                for (; line[j] != '"'; j++)
                {
                    if (line[j] == '\\')
                    {
                        j++;
                        sb.Append(line[j] switch
                        {
                            '\\' => '\\',
                            '"' => '"',
                            'n' => '\n',
                            _ => throw new FormatException($"bad escape '\\{line[j]}' in a label value"),
                        });
                    }
                    else
                    {
                        sb.Append(line[j]);
                    }
                }

                if (!labels.TryAdd(label, sb.ToString()))
                {
                    throw new FormatException($"label '{label}' twice");
                }

                i = j + 1;
                if (line[i] == ',')
                {
                    i++;
                }
                else if (line[i] != '}')
                {
                    throw new FormatException("expected ',' or '}' after a label");
                }
            }

            i++;
        }

        if (i >= line.Length || line[i] != ' ')
        {
            throw new FormatException("expected one space before the value");
        }

        var rest = line[(i + 1)..].Split(' ');
        if (rest.Length is < 1 or > 2 || rest[0].Length == 0)
        {
            throw new FormatException("expected a value and an optional timestamp");
        }

        var value = ParseValue(rest[0]);
        if (rest.Length == 2 && !long.TryParse(rest[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out _))
        {
            throw new FormatException($"bad timestamp '{rest[1]}'");
        }

        return new Sample(name, labels, value);
    }

    public static double ParseValue(string s) => s switch
    {
        "+Inf" or "Inf" => double.PositiveInfinity,
        "-Inf" => double.NegativeInfinity,
        "NaN" => double.NaN,
        _ => double.TryParse(s, NumberStyles.Float, CultureInfo.InvariantCulture, out var v) ? v : throw new FormatException($"bad value '{s}'"),
    };

    private static MetricFamily FamilyOf(string sampleName, Dictionary<string, MetricFamily> families)
    {
        if (families.TryGetValue(sampleName, out var f) && f.Type != "histogram")
        {
            return f;
        }

        foreach (var suffix in new[] { "_bucket", "_sum", "_count" })
        {
            if (sampleName.EndsWith(suffix, StringComparison.Ordinal) &&
                families.TryGetValue(sampleName[..^suffix.Length], out var h) && h.Type is "histogram" or "summary")
            {
                return h;
            }
        }

        throw new FormatException($"sample '{sampleName}' has no TYPE line before it");
    }

    private static void CheckHistogram(MetricFamily f)
    {
        var bySeries = f.Samples.GroupBy(s => string.Join(",", s.Labels.Where(l => l.Key != "le").OrderBy(l => l.Key, StringComparer.Ordinal).Select(l => l.Key + "=" + l.Value)));
        foreach (var series in bySeries)
        {
            var buckets = series.Where(s => s.Name == f.Name + "_bucket").ToList();
            var count = series.SingleOrDefault(s => s.Name == f.Name + "_count") ?? throw new FormatException($"{f.Name}{{{series.Key}}} has no _count");
            _ = series.SingleOrDefault(s => s.Name == f.Name + "_sum") ?? throw new FormatException($"{f.Name}{{{series.Key}}} has no _sum");
            if (buckets.Count == 0 || buckets[^1].Labels.GetValueOrDefault("le") != "+Inf")
            {
                throw new FormatException($"{f.Name}{{{series.Key}}}: the last bucket must be le=\"+Inf\"");
            }

            var previousLe = double.NegativeInfinity;
            var previousCount = 0.0;
            foreach (var b in buckets)
            {
                var le = ParseValue(b.Labels.GetValueOrDefault("le") ?? throw new FormatException("a bucket without le"));
                if (le <= previousLe || b.Value < previousCount)
                {
                    throw new FormatException($"{f.Name}{{{series.Key}}}: buckets must rise in le and never fall in count");
                }

                previousLe = le;
                previousCount = b.Value;
            }

            if (count.Value != buckets[^1].Value)
            {
                throw new FormatException($"{f.Name}{{{series.Key}}}: _count {count.Value} != +Inf bucket {buckets[^1].Value}");
            }
        }
    }

    private static string Unescape(string s, bool allowQuote)
    {
        var sb = new StringBuilder();
        for (var i = 0; i < s.Length; i++)
        {
            if (s[i] != '\\')
            {
                sb.Append(s[i]);
                continue;
            }

            i++;
            sb.Append(i < s.Length ? s[i] switch
            {
                '\\' => '\\',
                'n' => '\n',
                '"' when allowQuote => '"',
                _ => throw new FormatException($"bad escape '\\{s[i]}'"),
            } : throw new FormatException("dangling backslash"));
        }

        return sb.ToString();
    }

    [GeneratedRegex("^[a-zA-Z_:][a-zA-Z0-9_:]*$")]
    private static partial Regex MetricName();

    [GeneratedRegex("^[a-zA-Z_][a-zA-Z0-9_]*$")]
    private static partial Regex LabelName();
}

public sealed class MetricFamily(string name)
{
    public string Name { get; } = name;

    public string? Help { get; set; }

    public string? Type { get; set; }

    public List<Sample> Samples { get; } = [];

    internal HashSet<string> SeriesKeys { get; } = new(StringComparer.Ordinal);

    /// <summary>The value of the sample with exactly these labels (name = family name), or null.</summary>
    public double? Value(params (string Key, string Value)[] labels) =>
        Samples.FirstOrDefault(s => s.Name == Name && s.Labels.Count == labels.Length && labels.All(l => s.Labels.GetValueOrDefault(l.Key) == l.Value))?.Value;
}

public sealed record Sample(string Name, Dictionary<string, string> Labels, double Value);
