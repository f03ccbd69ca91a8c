namespace Basalt.Protocol;

/// <summary>
/// Splits an inline request line in place, with the quoting rules of Redis's sdssplitargs:
/// "double quotes" with \n \r \t \b \a \\ \" and \xHH escapes, 'single quotes' with \' only.
/// Unescaped output is never longer than its input, so it is written back into the same buffer.
/// </summary>
public static class InlineSplitter
{
    public static bool Split(byte[] buf, int start, int end, ArgList args)
    {
        var p = start;
        while (true)
        {
            while (p < end && IsSpace(buf[p]))
            {
                p++;
            }

            if (p >= end)
            {
                return true;
            }

            var inDq = false;
            var inSq = false;
            var done = false;
            var outStart = p;
            var w = p;
            while (!done)
            {
                if (inDq)
                {
                    if (p >= end)
                    {
                        return false;
                    }

                    if (buf[p] == '\\' && p + 3 < end && buf[p + 1] == 'x' && IsHex(buf[p + 2]) && IsHex(buf[p + 3]))
                    {
                        buf[w++] = (byte)((HexVal(buf[p + 2]) << 4) | HexVal(buf[p + 3]));
                        p += 3;
                    }
                    else if (buf[p] == '\\' && p + 1 < end)
                    {
                        p++;
                        buf[w++] = buf[p] switch
                        {
                            (byte)'n' => (byte)'\n',
                            (byte)'r' => (byte)'\r',
                            (byte)'t' => (byte)'\t',
                            (byte)'b' => (byte)'\b',
                            (byte)'a' => 7,
                            var c => c,
                        };
                    }
                    else if (buf[p] == '"')
                    {
                        // A closing quote must be followed by a space or the end.
                        if (p + 1 < end && !IsSpace(buf[p + 1]))
                        {
                            return false;
                        }

                        done = true;
                    }
                    else
                    {
                        buf[w++] = buf[p];
                    }
                }
                else if (inSq)
                {
                    if (p >= end)
                    {
                        return false;
                    }

                    if (buf[p] == '\\' && p + 1 < end && buf[p + 1] == '\'')
                    {
                        p++;
                        buf[w++] = (byte)'\'';
                    }
                    else if (buf[p] == '\'')
                    {
                        if (p + 1 < end && !IsSpace(buf[p + 1]))
                        {
                            return false;
                        }

                        done = true;
                    }
                    else
                    {
                        buf[w++] = buf[p];
                    }
                }
                else if (p >= end)
                {
                    done = true;
                }
                else
                {
                    switch (buf[p])
                    {
                        case (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or 0:
                            done = true;
                            break;
                        case (byte)'"':
                            inDq = true;
                            break;
                        case (byte)'\'':
                            inSq = true;
                            break;
                        default:
                            buf[w++] = buf[p];
                            break;
                    }
                }

                if (p < end)
                {
                    p++;
                }
            }

            args.Add(outStart, w - outStart);
        }
    }

    private static bool IsSpace(byte c) => c is (byte)' ' or (byte)'\n' or (byte)'\r' or (byte)'\t' or (byte)'\v' or (byte)'\f';

    private static bool IsHex(byte c) => c is (>= (byte)'0' and <= (byte)'9') or (>= (byte)'a' and <= (byte)'f') or (>= (byte)'A' and <= (byte)'F');

    private static int HexVal(byte c) => c switch
    {
        >= (byte)'0' and <= (byte)'9' => c - '0',
        >= (byte)'a' and <= (byte)'f' => c - 'a' + 10,
        _ => c - 'A' + 10,
    };
}
