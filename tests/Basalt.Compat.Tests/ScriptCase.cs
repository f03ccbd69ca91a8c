using System.Text;

namespace Basalt.Compat.Tests;

/// <summary>How one command's replies are compared.</summary>
public enum Compare
{
    /// <summary>Type, shape and bytes must be equal.</summary>
    Exact,

    /// <summary>Arrays compare as multisets (KEYS: hash order is not part of the contract).</summary>
    Sorted,

    /// <summary>Only the RESP type and shape (TTL in ms, ids, times: values legitimately differ).</summary>
    Shape,

    /// <summary>Exact but for the value of an "id" field (HELLO's client id, which counts each server's own connections).</summary>
    ExceptId,
}

public sealed record ScriptCommand(Compare Mode, byte[][] Args, string Text);

/// <summary>
/// One differential script: one line of a cases/*.redis file. Commands are separated by " ; ".
/// A command may start with @sort, @shape or @except-id (<see cref="Compare"/>). Arguments use redis-cli quoting ("a b", 'x', "\x00").
/// A line may start with "resp2:" or "resp3:" to run under one protocol only.
/// </summary>
public sealed record ScriptCase(string File, int Line, string Source, IReadOnlyList<ScriptCommand> Commands, int[] Protocols)
{
    public override string ToString() => $"{File}:{Line}";

    public static IEnumerable<ScriptCase> Load(string path)
    {
        var name = Path.GetFileName(path);
        var lineNo = 0;
        foreach (var raw in System.IO.File.ReadLines(path))
        {
            lineNo++;
            var line = raw.Trim();
            if (line.Length == 0 || line.StartsWith('#'))
            {
                continue;
            }

            int[] protocols = [2, 3];
            if (line.StartsWith("resp2:", StringComparison.Ordinal) || line.StartsWith("resp3:", StringComparison.Ordinal))
            {
                protocols = [line[4] - '0'];
                line = line[6..].Trim();
            }

            var commands = new List<ScriptCommand>();
            foreach (var part in SplitCommands(line))
            {
                var text = part.Trim();
                var mode = Compare.Exact;
                if (text.StartsWith("@sort ", StringComparison.Ordinal))
                {
                    mode = Compare.Sorted;
                    text = text[6..];
                }
                else if (text.StartsWith("@shape ", StringComparison.Ordinal))
                {
                    mode = Compare.Shape;
                    text = text[7..];
                }
                else if (text.StartsWith("@except-id ", StringComparison.Ordinal))
                {
                    mode = Compare.ExceptId;
                    text = text[11..];
                }

                var args = Tokenize(text) ?? throw new FormatException($"{name}:{lineNo}: bad quoting in '{text}'");
                commands.Add(new ScriptCommand(mode, args, text));
            }

            yield return new ScriptCase(name, lineNo, line, commands, protocols);
        }
    }

    private static IEnumerable<string> SplitCommands(string line)
    {
        var start = 0;
        var inQuote = '\0';
        for (var i = 0; i < line.Length; i++)
        {
            var c = line[i];
            if (inQuote != '\0')
            {
                if (c == '\\' && inQuote == '"')
                {
                    i++;
                }
                else if (c == inQuote)
                {
                    inQuote = '\0';
                }
            }
            else if (c is '"' or '\'')
            {
                inQuote = c;
            }
            else if (c == ';' && i > 0 && line[i - 1] == ' ' && i + 1 < line.Length && line[i + 1] == ' ')
            {
                yield return line[start..i];
                start = i + 1;
            }
        }

        yield return line[start..];
    }

    /// <summary>redis-cli style argument splitting.</summary>
    private static byte[][]? Tokenize(string s)
    {
        var result = new List<byte[]>();
        var i = 0;
        while (true)
        {
            while (i < s.Length && s[i] == ' ')
            {
                i++;
            }

            if (i >= s.Length)
            {
                return result.ToArray();
            }

            var cur = new List<byte>();
            if (s[i] == '"')
            {
                i++;
                while (true)
                {
                    if (i >= s.Length)
                    {
                        return null;
                    }

                    var c = s[i];
                    if (c == '"')
                    {
                        i++;
                        break;
                    }

                    if (c == '\\' && i + 1 < s.Length)
                    {
                        var n = s[i + 1];
                        if (n == 'x' && i + 3 < s.Length)
                        {
                            cur.Add(Convert.ToByte(s.Substring(i + 2, 2), 16));
                            i += 4;
                            continue;
                        }

                        cur.Add(n switch { 'n' => (byte)'\n', 'r' => (byte)'\r', 't' => (byte)'\t', _ => (byte)n });
                        i += 2;
                        continue;
                    }

                    cur.AddRange(Encoding.UTF8.GetBytes(c.ToString()));
                    i++;
                }
            }
            else if (s[i] == '\'')
            {
                i++;
                var end = s.IndexOf('\'', i);
                if (end < 0)
                {
                    return null;
                }

                cur.AddRange(Encoding.UTF8.GetBytes(s[i..end]));
                i = end + 1;
            }
            else
            {
                var end = s.IndexOf(' ', i);
                if (end < 0)
                {
                    end = s.Length;
                }

                cur.AddRange(Encoding.UTF8.GetBytes(s[i..end]));
                i = end;
            }

            result.Add(cur.ToArray());
        }
    }
}
