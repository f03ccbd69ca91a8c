using Basalt.Protocol;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Engine.Commands;

/// <summary>LCS's option parsing, dynamic programme and replies, following Redis 7.0's lcsCommand.</summary>
internal static class Lcs
{
    /// <param name="maxBulk">proto-max-bulk-len: as in Redis, the table of (alen+1)×(blen+1) uint32 may not exceed it.</param>
    public static void Reply(ArgView args, byte[] a, byte[] b, ReplyBuffer reply, long maxBulk)
    {
        var getLen = false;
        var getIdx = false;
        var withMatchLen = false;
        long minMatchLen = 0;
        for (var j = 3; j < args.Count; j++)
        {
            var opt = args[j];
            if (Is(opt, "IDX"u8))
            {
                getIdx = true;
            }
            else if (Is(opt, "LEN"u8))
            {
                getLen = true;
            }
            else if (Is(opt, "WITHMATCHLEN"u8))
            {
                withMatchLen = true;
            }
            else if (Is(opt, "MINMATCHLEN"u8) && j + 1 < args.Count)
            {
                if (!TryLong(args[++j], reply, out minMatchLen))
                {
                    return;
                }

                minMatchLen = Math.Max(0, minMatchLen);
            }
            else
            {
                reply.Error(Errors.Syntax);
                return;
            }
        }

        if (getIdx && getLen)
        {
            reply.Error("ERR If you want both the length and indexes, please just use IDX.");
            return;
        }

        var alen = a.Length;
        var blen = b.Length;
        if ((long)(alen + 1) * (blen + 1) > maxBulk / sizeof(uint))
        {
            reply.Error("ERR Insufficient memory, transient memory for LCS exceeds proto-max-bulk-len");
            return;
        }

        // Redis tries the allocation and answers this when it fails; an array can't hold more than Array.MaxLength cells.
        var cells = (long)(alen + 1) * (blen + 1);
        var table = cells <= Array.MaxLength ? TryAllocate(cells) : null;
        if (table is null)
        {
            reply.Error("ERR Insufficient memory, failed allocating transient memory for LCS");
            return;
        }

        var width = blen + 1;
        for (var i = 1; i <= alen; i++)
        {
            for (var j = 1; j <= blen; j++)
            {
                table[(i * width) + j] = a[i - 1] == b[j - 1]
                    ? table[((i - 1) * width) + j - 1] + 1
                    : Math.Max(table[((i - 1) * width) + j], table[(i * width) + j - 1]);
            }
        }

        var lcsLen = (int)table[(alen * width) + blen];
        if (getLen)
        {
            reply.Integer(lcsLen);
            return;
        }

        var result = new byte[lcsLen];
        var matches = getIdx ? new List<(int A0, int A1, int B0, int B1)>() : null;
        var idx = lcsLen;
        int ii = alen, jj = blen;
        int aStart = alen, aEnd = 0, bStart = 0, bEnd = 0;
        while (ii > 0 && jj > 0)
        {
            var emit = false;
            if (a[ii - 1] == b[jj - 1])
            {
                result[idx - 1] = a[ii - 1];
                if (aStart == alen)
                {
                    aStart = aEnd = ii - 1;
                    bStart = bEnd = jj - 1;
                }
                else if (aStart == ii && bStart == jj)
                {
                    aStart--;
                    bStart--;
                }
                else
                {
                    emit = true;
                }

                if (aStart == 0 || bStart == 0)
                {
                    emit = true;
                }

                idx--;
                ii--;
                jj--;
            }
            else
            {
                if (table[((ii - 1) * width) + jj] > table[(ii * width) + jj - 1])
                {
                    ii--;
                }
                else
                {
                    jj--;
                }

                if (aStart != alen)
                {
                    emit = true;
                }
            }

            if (emit)
            {
                var matchLen = aEnd - aStart + 1;
                if (minMatchLen == 0 || matchLen >= minMatchLen)
                {
                    matches?.Add((aStart, aEnd, bStart, bEnd));
                }

                aStart = alen;
            }
        }

        if (matches is null)
        {
            reply.Bulk(result);
            return;
        }

        reply.MapHeader(2);
        reply.Bulk("matches"u8);
        reply.ArrayHeader(matches.Count);
        foreach (var (a0, a1, b0, b1) in matches)
        {
            reply.ArrayHeader(withMatchLen ? 3 : 2);
            reply.ArrayHeader(2);
            reply.Integer(a0);
            reply.Integer(a1);
            reply.ArrayHeader(2);
            reply.Integer(b0);
            reply.Integer(b1);
            if (withMatchLen)
            {
                reply.Integer(a1 - a0 + 1);
            }
        }

        reply.Bulk("len"u8);
        reply.Integer(lcsLen);
    }

    private static uint[]? TryAllocate(long cells)
    {
        try
        {
            return new uint[cells];
        }
        catch (OutOfMemoryException)
        {
            return null;
        }
    }
}
