namespace Basalt.Server.Shards;

/// <summary>
/// Per-loop counters. Written only by the loop's own thread; read by INFO through a shard hop.
/// </summary>
internal sealed class LoopStats(int commandCount)
{
#pragma warning disable CA1051 // A field, so Volatile can take it by ref: health checks read it from another thread.
    public long LastTurnTicks;

    /// <summary>1 while the loop is blocked in epoll_wait (idle), 0 while it runs a turn.</summary>
    public int Parked;
#pragma warning restore CA1051

    public long MessagesReceived { get; set; }

    /// <summary>Messages this loop posted to any loop's inbox (counted by the sender, on its own thread).</summary>
    public long MessagesSent { get; set; }

    public long Wakes { get; set; }

    public long DrainsAtCap { get; set; }

    public long UnknownCommands { get; set; }

    public long[] Calls { get; } = new long[commandCount];

    public long[] Ticks { get; } = new long[commandCount];

    public long[] Failed { get; } = new long[commandCount];

    public long[] Rejected { get; } = new long[commandCount];

    public long CommandsProcessed { get; set; }

    /// <summary>Bytes received and sent by this loop's connections: per loop, so no cache line is shared.</summary>
    public long BytesRead { get; set; }

    public long BytesWritten { get; set; }

    /// <summary>Error replies sent (INFO total_error_replies).</summary>
    public long ErrorReplies { get; private set; }

    /// <summary>Error replies by code, the word after the '-' (INFO errorstats). At most <see cref="MaxErrorCodes"/> codes.</summary>
    public Dictionary<string, long> ErrorCodes { get; } = new(StringComparer.Ordinal);

    /// <summary>Bounds the table: codes are the server's own words, so in practice it holds a handful.</summary>
    public const int MaxErrorCodes = 128;

    /// <summary>
    /// Counts an error reply by its code as Redis does: the text between the '-' and a space within the first 32 bytes,
    /// or "ERR" when there is no such space.
    /// </summary>
    public void CountError(ReadOnlySpan<byte> reply)
    {
        var space = reply[..Math.Min(reply.Length, 32)].IndexOf((byte)' ');
        CountErrorCode(space > 0 ? reply[1..space] : "ERR"u8);
    }

    public void CountErrorCode(ReadOnlySpan<byte> code)
    {
        ErrorReplies++;
        Span<char> chars = stackalloc char[code.Length];
        for (var i = 0; i < code.Length; i++)
        {
            chars[i] = (char)code[i];
        }

        var lookup = ErrorCodes.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(chars, out var n))
        {
            lookup[chars] = n + 1;
        }
        else if (ErrorCodes.Count < MaxErrorCodes)
        {
            ErrorCodes.Add(new string(chars), 1);
        }
    }

    public void Record(int commandId, long ticks, bool failed)
    {
        Calls[commandId]++;
        Ticks[commandId] += ticks;
        CommandsProcessed++;
        if (failed)
        {
            Failed[commandId]++;
        }
    }

    public void Reset()
    {
        Array.Clear(Calls);
        Array.Clear(Ticks);
        Array.Clear(Failed);
        Array.Clear(Rejected);
        ErrorCodes.Clear();
        ErrorReplies = 0;
        CommandsProcessed = 0;
        BytesRead = 0;
        BytesWritten = 0;
    }
}

/// <summary>Key counts a loop publishes on request, for the metrics scrape to read from another thread.</summary>
internal sealed class ShardGauges(int databases)
{
    public long[] Keys { get; } = new long[databases];

    public long[] Expiring { get; } = new long[databases];

    /// <summary>Keys this shard's expiry removed (the store's own count, which only the loop reads).</summary>
    public long Expired;
}
