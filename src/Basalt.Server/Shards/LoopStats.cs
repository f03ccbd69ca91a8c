namespace Basalt.Server.Shards;

/// <summary>
/// Per-loop counters. Written only by the loop's thread; read by INFO through a shard hop,
/// and by /metrics as plain (possibly slightly stale) reads of 64-bit fields.
/// </summary>
internal sealed class LoopStats(int commandCount)
{
#pragma warning disable CA1051 // Fields, so Interlocked/Volatile can take them by ref.
    public long LastTurnTicks;
    public long MessagesReceived;
#pragma warning restore CA1051

    public long Wakes { get; set; }

    public long DrainsAtCap { get; set; }

    public long UnknownCommands { get; set; }

    public long[] Calls { get; } = new long[commandCount];

    public long[] Ticks { get; } = new long[commandCount];

    public long[] Failed { get; } = new long[commandCount];

    public long[] Rejected { get; } = new long[commandCount];

    public long CommandsProcessed { get; set; }

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
        CommandsProcessed = 0;
    }
}
