using Basalt.Engine.Commands;
using Basalt.Protocol;

namespace Basalt.Server.Shards;

/// <summary>
/// Who holds a shard for a multi-shard op: one op holding it whole (ops that look at the whole keyspace,
/// and COPY into another database), or any number of key-scoped ops each holding just its keys here
/// (MSET, MSETNX, MGET, DEL, EXISTS, TOUCH, UNLINK, RENAME, RENAMENX, COPY, LCS), through all their
/// phases. A command may run while key holds exist if none of its
/// keys is held. Keys are held by a seeded hash of db and key: two keys that collide merely wait
/// for each other, which is safe. Owned and used by one loop's thread only (invariant 1).
/// </summary>
internal sealed class ShardLocks : Basalt.Engine.Keyspace.IExpiryGuard
{
    private readonly Dictionary<ulong, int> _keys = [];

    /// <summary>The op holding the whole shard, or null.</summary>
    public OpRun? Exclusive { get; private set; }

    /// <summary>Key-scoped ops holding keys on this shard now.</summary>
    public int KeyHolders { get; private set; }

    public bool Any => Exclusive is not null || KeyHolders > 0;

    public void TakeExclusive(OpRun run)
    {
        if (Any)
        {
            throw new InvalidOperationException("shard hold granted while it is held");
        }

        Exclusive = run;
    }

    public void ReleaseExclusive(OpRun run)
    {
        if (!ReferenceEquals(Exclusive, run))
        {
            throw new InvalidOperationException("shard released by an op that does not hold it");
        }

        Exclusive = null;
    }

    public void TakeKeys(List<ulong> hashes)
    {
        if (Exclusive is not null)
        {
            throw new InvalidOperationException("key hold granted while the shard is held whole");
        }

        KeyHolders++;
        foreach (var h in hashes)
        {
            System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrAddDefault(_keys, h, out _)++;
        }
    }

    public void ReleaseKeys(List<ulong> hashes)
    {
        KeyHolders--;
        foreach (var h in hashes)
        {
            ref var n = ref System.Runtime.InteropServices.CollectionsMarshal.GetValueRefOrNullRef(_keys, h);
            if (--n == 0)
            {
                _keys.Remove(h);
            }
        }
    }

    /// <summary>Active expiry's check: the key is held (or the whole shard is), so it must not be deleted under its op.</summary>
    public bool IsHeld(int db, ReadOnlySpan<byte> key) =>
        Exclusive is not null || (KeyHolders > 0 && _keys.ContainsKey(ShardOp.LockHash(db, key)));

    /// <summary>True when no key in <paramref name="hashes"/> is held and no op holds the shard whole.</summary>
    public bool KeysFree(List<ulong> hashes)
    {
        if (Exclusive is not null)
        {
            return false;
        }

        if (KeyHolders == 0)
        {
            return true;
        }

        foreach (var h in hashes)
        {
            if (_keys.ContainsKey(h))
            {
                return false;
            }
        }

        return true;
    }

    /// <summary>True when a keyed command may run now: the shard isn't held whole and none of its keys is held.</summary>
    public bool KeysFree(CommandSpec spec, ArgView args, int db)
    {
        if (Exclusive is not null)
        {
            return false;
        }

        if (KeyHolders == 0)
        {
            return true;
        }

        if (spec.OtherDbArg > 0)
        {
            // MOVE also writes its key in another database, which the hold check below does not look at.
            return false;
        }

        if (spec.TryGetKeyRange(args.Count, out var first, out var last, out var step))
        {
            for (var i = first; i <= last; i += step)
            {
                if (_keys.ContainsKey(ShardOp.LockHash(db, args[i])))
                {
                    return false;
                }
            }
        }

        return true;
    }
}
