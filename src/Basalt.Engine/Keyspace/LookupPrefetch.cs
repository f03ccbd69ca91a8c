using System.Runtime.CompilerServices;

namespace Basalt.Engine.Keyspace;

/// <summary>
/// Overlaps the cache misses of a batch's key lookups. In a table larger than the cache one lookup
/// misses three or four times in a row (bucket slot, entry, key, value), so a pipeline of lookups run
/// one by one waits for every miss in turn. Asking first for every key's bucket slot, then every head
/// entry, then every key and value (or the next entry of a chain, <see cref="KeyTable.Prefetch"/>) lets the
/// memory system fetch them side by side, and the commands then run on warm lines. Redis 8 prefetches the
/// keys of a batch of commands for the same reason.
/// Used on the shard's own thread only, like the table it reads (invariant 1).
/// </summary>
public struct LookupPrefetch
{
    public const int Capacity = 16;
    private Hashes _hashes;
    private int _count;

    public readonly bool IsFull => _count == Capacity;

    /// <summary>Keys that may still be added before the batch must run.</summary>
    public readonly int Room => Capacity - _count;

    public void Add(ReadOnlySpan<byte> key) => Add(KeyHash.Of(key));

    /// <summary>Adds a key by its <see cref="KeyHash"/>, already computed.</summary>
    public void Add(ulong keyHash) => _hashes[_count++] = keyHash;

    /// <summary>Issues the prefetches for the keys added so far, then starts a new batch.</summary>
    public void Run(KeyTable table)
    {
        // One key has nothing to overlap with; its lookup would only be slowed by the extra pass.
        if (_count > 1)
        {
            for (var stage = 0; stage < KeyTable.PrefetchStages; stage++)
            {
                for (var i = 0; i < _count; i++)
                {
                    table.Prefetch(_hashes[i], stage);
                }
            }
        }

        _count = 0;
    }

    [InlineArray(Capacity)]
    private struct Hashes
    {
        private ulong _element;
    }
}
