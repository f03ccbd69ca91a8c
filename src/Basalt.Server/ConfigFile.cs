using System.Text;
using Basalt.Protocol;

namespace Basalt.Server;

/// <summary>One source of directives (a file, or the command line), with its own "first save line resets" state.</summary>
internal sealed class ConfigSource(string name)
{
    public string Name { get; } = name;
}

/// <summary>
/// Reads redis.conf-syntax files into a <see cref="ServerConfig"/>: one directive per line, '#'
/// comments, "double" and 'single' quoted words, and <c>include path</c>. Any unknown or invalid
/// directive throws a <see cref="ConfigException"/> whose message names the file, the line and the reason.
/// </summary>
internal sealed class ConfigFileReader(ServerConfig config)
{
    // Settings that append (save) seen so far, in any source: the config file, its includes and the command line, as
    // Redis's one save_loaded flag. The first occurrence replaces the default, the later ones add to it.
    private readonly HashSet<string> _appended = new(StringComparer.OrdinalIgnoreCase);

    /// <summary>Nested includes deeper than this are refused: it catches include cycles too.</summary>
    public const int MaxIncludeDepth = 16;

    private int _depth;

    public void ReadFile(string path)
    {
        if (++_depth > MaxIncludeDepth)
        {
            throw new ConfigException($"{path}: includes nested deeper than {MaxIncludeDepth} (an include cycle?)");
        }

        byte[] text;
        try
        {
            text = File.ReadAllBytes(path);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            throw new ConfigException($"{path}: can't read config file: {ex.Message}");
        }

        ReadText(text, path);
        _depth--;
    }

    /// <summary>Applies a config text read from <paramref name="name"/> (a file's path, or "stdin"), line by line.</summary>
    public void ReadText(byte[] text, string name)
    {
        var source = new ConfigSource(name);
        var lines = Lines(text);
        for (var i = 0; i < lines.Count; i++)
        {
            var where = $"{name}:{i + 1}";
            var words = SplitLine(lines[i], out var utf8) ?? throw new ConfigException($"{where}: unbalanced quotes");
            if (!utf8)
            {
                throw new ConfigException($"{where}: not UTF-8 text (settings are kept as UTF-8 text; a byte that isn't would change meaning)");
            }

            if (words.Count > 0)
            {
                ApplyDirective(words, source, where);
            }
        }
    }

    /// <summary>Applies one directive: words[0] is the setting name, the rest its value.</summary>
    public void ApplyDirective(List<string> words, ConfigSource source, string where)
    {
        var name = words[0];
        if (name.Equals("include", StringComparison.OrdinalIgnoreCase))
        {
            if (words.Count != 2)
            {
                throw new ConfigException($"{where}: 'include' takes exactly one path");
            }

            // Like Redis, a relative include is resolved against the working directory.
            foreach (var file in IncludedFiles(Path.GetFullPath(words[1]), where))
            {
                ReadFile(file);
            }

            return;
        }

        if (!config.TryFind(name, out var setting))
        {
            throw new ConfigException($"{where}: unknown setting '{name}'");
        }

        var value = string.Join(' ', words.Skip(1));
        if (setting.AppendsInFile && !_appended.Add(setting.Name) && value.Length > 0)
        {
            value = (config.Get(setting.Name) + " " + value).Trim();
        }

        if (config.TrySet(setting.Name, value) is { } error)
        {
            throw new ConfigException($"{where}: '{setting.Name}': {error}");
        }
    }

    /// <summary>
    /// The files an include names. As Redis 7.0 (glob(3)): a name with <c>*</c>, <c>?</c> or <c>[</c> is a pattern,
    /// and its matches are read in byte order, a dot file only when the pattern starts with a dot; a pattern that
    /// matches nothing reads nothing. Only the last part of the path may be a pattern here: a directory pattern is refused.
    /// </summary>
    private static List<string> IncludedFiles(string path, string where)
    {
        var dir = Path.GetDirectoryName(path) ?? "/";
        var pattern = Path.GetFileName(path);
        if (dir.AsSpan().IndexOfAny("*?[") >= 0)
        {
            throw new ConfigException($"{where}: 'include' takes a pattern in the file name only, not in a directory: {path}");
        }

        if (pattern.AsSpan().IndexOfAny("*?[") < 0)
        {
            return [path];
        }

        var patternBytes = Encoding.UTF8.GetBytes(pattern);
        var files = new List<string>();
        if (Directory.Exists(dir))
        {
            foreach (var file in Directory.EnumerateFiles(dir))
            {
                var name = Path.GetFileName(file);
                if ((name.StartsWith('.') && !pattern.StartsWith('.')) || !Engine.Glob.Match(patternBytes, Encoding.UTF8.GetBytes(name)))
                {
                    continue;
                }

                files.Add(file);
            }
        }

        files.Sort(static (a, b) => Encoding.UTF8.GetBytes(a).AsSpan().SequenceCompareTo(Encoding.UTF8.GetBytes(b)));
        return files;
    }

    /// <summary>
    /// Splits a redis.conf line into words as Redis does, with sdssplitargs (the inline request splitter): "double
    /// quotes" with \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' with \', a quote that opens mid-word,
    /// and only ASCII spaces between words. A line whose first non-space character is # is a comment. Null when a
    /// quote is unbalanced.
    /// </summary>
    public static List<string>? SplitLine(byte[] line, out bool utf8)
    {
        utf8 = true;
        var words = new List<string>();
        var first = line.AsSpan().IndexOfAnyExcept(" \t\r\n"u8);
        if (first >= 0 && line[first] == (byte)'#')
        {
            return words;
        }

        var args = new ArgList();
        if (!InlineSplitter.Split(line, 0, line.Length, args))
        {
            return null;
        }

        for (var i = 0; i < args.Count; i++)
        {
            if (!TryDecode(line.AsSpan(args.Offsets[i], args.Lengths[i]), out var word))
            {
                utf8 = false;
                return words;
            }

            words.Add(word);
        }

        return words;
    }

    /// <summary>Decodes strict UTF-8: false, rather than U+FFFD in the value, when the bytes are not UTF-8.</summary>
    public static bool TryDecode(ReadOnlySpan<byte> bytes, out string text)
    {
        var valid = System.Text.Unicode.Utf8.IsValid(bytes);
        text = valid ? Encoding.UTF8.GetString(bytes) : string.Empty;
        return valid;
    }

    /// <summary>A file's lines as Redis reads them: split at '\n', a trailing '\r' dropped.</summary>
    public static List<byte[]> Lines(byte[] text)
    {
        var lines = new List<byte[]>();
        var start = 0;
        while (start < text.Length)
        {
            var end = Array.IndexOf(text, (byte)'\n', start);
            var next = end < 0 ? text.Length : end + 1;
            end = end < 0 ? text.Length : end;
            if (end > start && text[end - 1] == (byte)'\r')
            {
                end--;
            }

            lines.Add(text[start..end]);
            start = next;
        }

        return lines;
    }

    /// <summary>Writes one word so that <see cref="SplitLine"/> reads it back unchanged.</summary>
    public static string Quote(string word)
    {
        var plain = word.Length > 0;
        foreach (var ch in word)
        {
            if (char.IsWhiteSpace(ch) || ch is '"' or '\'' or '\\' or '#' || char.IsControl(ch))
            {
                plain = false;
                break;
            }
        }

        if (plain)
        {
            return word;
        }

        var sb = new StringBuilder("\"");
        foreach (var ch in word)
        {
            sb.Append(ch switch
            {
                '"' => "\\\"",
                '\\' => "\\\\",
                '\n' => "\\n",
                '\r' => "\\r",
                '\t' => "\\t",
                _ => ch.ToString(),
            });
        }

        return sb.Append('"').ToString();
    }
}

/// <summary>
/// CONFIG REWRITE, as Redis does it: comments, blank lines, includes and the order of the file are
/// kept; the first line of each setting is replaced by its current value and its repeats removed;
/// settings that differ from their default and aren't in the file are appended after a marker line.
/// The file is replaced atomically: temp file, fsync, rename, fsync of the directory.
/// </summary>
internal static class ConfigRewriter
{
    public const string Marker = "# Generated by CONFIG REWRITE";

    private static readonly byte[] MarkerBytes = Encoding.UTF8.GetBytes(Marker);

    private static long s_rewrites;

    public static void Rewrite(ServerConfig config, string path, IReadOnlyDictionary<string, string> values)
    {
        // Lines are kept as bytes: a comment in another encoding survives the rewrite as it was.
        var old = File.Exists(path) ? ConfigFileReader.Lines(File.ReadAllBytes(path)) : [];
        var defaults = new ServerConfig();
        var lines = new List<byte[]>(old.Count);
        var firstLine = new Dictionary<string, int>(StringComparer.OrdinalIgnoreCase);
        var hasMarker = false;
        foreach (var line in old)
        {
            hasMarker |= line.AsSpan().Trim(" \t\r"u8).SequenceEqual(MarkerBytes);

            var words = ConfigFileReader.SplitLine(line, out _);
            if (words is { Count: > 0 } && config.TryFind(words[0], out var s))
            {
                if (firstLine.ContainsKey(s.Name))
                {
                    continue; // a repeat of a setting already placed: its value is on the first line
                }

                firstLine[s.Name] = lines.Count;
            }

            lines.Add(line);
        }

        var tail = new List<byte[]>();
        foreach (var s in config.Settings)
        {
            var value = values[s.Name];
            var rendered = Encoding.UTF8.GetBytes(s.Name + " " + Render(s.Type, value));
            if (firstLine.TryGetValue(s.Name, out var at))
            {
                lines[at] = rendered;
            }
            else if (value != defaults.Get(s.Name))
            {
                tail.Add(rendered);
            }
        }

        if (tail.Count > 0)
        {
            if (!hasMarker)
            {
                lines.Add(MarkerBytes);
            }

            lines.AddRange(tail);
        }

        WriteAtomically(path, lines);
    }

    private static string Render(SettingType type, string value) =>
        type == SettingType.Words ? (value.Length == 0 ? "\"\"" : value) : ConfigFileReader.Quote(value);

    private static void WriteAtomically(string path, List<byte[]> lines)
    {
        var dir = Path.GetDirectoryName(Path.GetFullPath(path))!;
        // A temp file of each rewrite's own, so no rewrite can ever find another's in its way (rewrites from the loops
        // take turns under the config lock; one from an earlier process may have left its file behind).
        var temp = Path.Combine(dir, $".{Path.GetFileName(path)}.rewrite-{Environment.ProcessId}-{Interlocked.Increment(ref s_rewrites)}");
        try
        {
            using (var f = new FileStream(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                foreach (var l in lines)
                {
                    f.Write(l);
                    f.WriteByte((byte)'\n');
                }

                f.Flush(flushToDisk: true);
            }

            File.Move(temp, path, overwrite: true);
        }
        catch
        {
            // The config file is as it was; a full disk leaves no partial temp file behind either.
            File.Delete(temp);
            throw;
        }

        Net.Native.FsyncDirectory(dir);
    }
}
