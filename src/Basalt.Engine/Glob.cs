namespace Basalt.Engine;

/// <summary>Redis's glob matcher (util.c stringmatchlen): * ? [set] [^set] [a-z] and \ escapes.</summary>
public static class Glob
{
    public static bool IsMatchAll(ReadOnlySpan<byte> pattern) => pattern.Length == 1 && pattern[0] == (byte)'*';

    public static bool Match(ReadOnlySpan<byte> pattern, ReadOnlySpan<byte> s, bool nocase = false)
    {
        var skipLonger = false;
        return Match(pattern, s, nocase, ref skipLonger, 0);
    }

    private static bool Match(ReadOnlySpan<byte> p, ReadOnlySpan<byte> s, bool nocase, ref bool skipLonger, int nesting)
    {
        // Redis bounds nesting the same way, so a hostile pattern can't exhaust the stack.
        if (nesting > 1000)
        {
            return false;
        }

        while (!p.IsEmpty && !s.IsEmpty)
        {
            switch (p[0])
            {
                case (byte)'*':
                    while (p.Length > 1 && p[1] == (byte)'*')
                    {
                        p = p[1..];
                    }

                    if (p.Length == 1)
                    {
                        return true;
                    }

                    while (!s.IsEmpty)
                    {
                        if (Match(p[1..], s, nocase, ref skipLonger, nesting + 1))
                        {
                            return true;
                        }

                        if (skipLonger)
                        {
                            return false;
                        }

                        s = s[1..];
                    }

                    // The rest matched nowhere; a longer match for an earlier '*' cannot help either.
                    skipLonger = true;
                    return false;
                case (byte)'?':
                    s = s[1..];
                    break;
                case (byte)'[':
                    {
                        p = p[1..];
                        var not = !p.IsEmpty && p[0] == (byte)'^';
                        if (not)
                        {
                            p = p[1..];
                        }

                        var match = false;
                        while (true)
                        {
                            if (p.IsEmpty)
                            {
                                break;
                            }

                            if (p[0] == (byte)'\\' && p.Length >= 2)
                            {
                                p = p[1..];
                                if (p[0] == s[0])
                                {
                                    match = true;
                                }
                            }
                            else if (p[0] == (byte)']')
                            {
                                break;
                            }
                            else if (p.Length >= 3 && p[1] == (byte)'-')
                            {
                                // As Redis's stringmatchlen: the ends and the byte are C chars, signed on x86 (so
                                // [\xff-a] spans -1..97), ordered first and case-folded after.
                                int start = (sbyte)p[0], end = (sbyte)p[2];
                                if (start > end)
                                {
                                    (start, end) = (end, start);
                                }

                                (start, end) = (Fold(start, nocase), Fold(end, nocase));
                                var c = Fold((sbyte)s[0], nocase);

                                p = p[2..];
                                if (c >= start && c <= end)
                                {
                                    match = true;
                                }
                            }
                            else if (Fold(p[0], nocase) == Fold(s[0], nocase))
                            {
                                match = true;
                            }

                            p = p[1..];
                        }

                        if (not)
                        {
                            match = !match;
                        }

                        if (!match)
                        {
                            return false;
                        }

                        s = s[1..];
                        if (p.IsEmpty)
                        {
                            // Unterminated class: Redis treats the end of pattern as the class end.
                            return s.IsEmpty;
                        }

                        break;
                    }

                case (byte)'\\' when p.Length >= 2:
                    p = p[1..];
                    if (Fold(p[0], nocase) != Fold(s[0], nocase))
                    {
                        return false;
                    }

                    s = s[1..];
                    break;
                default:
                    if (Fold(p[0], nocase) != Fold(s[0], nocase))
                    {
                        return false;
                    }

                    s = s[1..];
                    break;
            }

            p = p[1..];
            if (s.IsEmpty)
            {
                while (!p.IsEmpty && p[0] == (byte)'*')
                {
                    p = p[1..];
                }

                break;
            }
        }

        return p.IsEmpty && s.IsEmpty;
    }

    private static int Fold(int c, bool nocase) => nocase && c is >= 'A' and <= 'Z' ? c + 32 : c;
}
