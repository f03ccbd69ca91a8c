namespace Basalt.Engine;

/// <summary>What a mutation did, recorded as its effect rather than its request.</summary>
public enum EffectKind : byte
{
    /// <summary>Key now holds Value (a string's bytes) with ExpireAtMs (-1: none).</summary>
    SetString = 1,

    /// <summary>Key was removed (DEL, lazy or active expiry, RENAME's source…).</summary>
    Delete = 2,

    /// <summary>Key's expiry is now ExpireAtMs, an absolute unix time in ms.</summary>
    Expire = 3,

    /// <summary>Key's expiry was removed.</summary>
    Persist = 4,

    /// <summary>Every key of Db was removed.</summary>
    FlushDb = 5,

    /// <summary>Databases Db and (int)ExpireAtMs were swapped.</summary>
    SwapDb = 6,
}

/// <summary>
/// The one interface through which every mutation leaves the engine. The write-ahead log
/// implements it; until then <see cref="NullEffectSink"/> drops records. A command never writes
/// to the log itself, so no command changes when durability lands.
/// Called on the shard's own thread, right after the in-memory change.
/// </summary>
public interface IEffectSink
{
    void Emit(EffectKind kind, int db, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long expireAtMs);
}

public sealed class NullEffectSink : IEffectSink
{
    public static NullEffectSink Instance { get; } = new();

    public void Emit(EffectKind kind, int db, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long expireAtMs)
    {
    }
}
