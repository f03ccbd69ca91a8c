namespace Basalt.Engine.Keyspace;

/// <summary>How a string value is held, as OBJECT ENCODING reports it.</summary>
public enum StringEncoding : byte
{
    Raw,
    Embstr,
    Int,

    /// <summary>"int" in an object of its own (COPY's copy): OBJECT REFCOUNT is 1 even for Redis's shared 0..9999.</summary>
    IntPrivate,
}

/// <summary>One key in a shard's table. Owned by the shard's thread (invariant 1).</summary>
public sealed class Entry
{
    public Entry(byte[] key, ulong hash, object value)
    {
        Key = key;
        Hash = hash;
        Value = value;
    }

    public byte[] Key { get; }

    public ulong Hash { get; }

    /// <summary>
    /// The value: for strings an exact-length <c>byte[]</c>, or a <see cref="GrowableString"/> once APPEND or SETRANGE
    /// changed it; other types come with their families. Read strings through <see cref="IsString"/> and
    /// <see cref="StringBytes"/>, which know both forms.
    /// </summary>
    public object Value { get; set; }

    /// <summary>True when the value is a string, in either form.</summary>
    public bool IsString => Value is byte[] or GrowableString;

    /// <summary>The string value's bytes; only for a string (<see cref="IsString"/>).</summary>
    public ReadOnlySpan<byte> StringBytes => Value is byte[] b ? b : ((GrowableString)Value).Span;

    /// <summary>Bytes the value holds on the heap: an array's length, or a growable string's whole buffer; 0 for other types.</summary>
    public long ValueBytes => Value switch
    {
        byte[] b => b.Length,
        GrowableString g => g.Capacity,
        _ => 0,
    };

    /// <summary>An exact-length copy of the string value (COPY's duplicate, as Redis's dupStringObject).</summary>
    public byte[] StringCopy() => StringBytes.ToArray();

    /// <summary>Absolute unix time in ms, or -1 for no expiry. Absolute so the WAL can record it as is.</summary>
    public long ExpireAtMs { get; set; } = -1;

    /// <summary>
    /// Whether the key's time has passed at <paramref name="nowMs"/>. As Redis's keyIsExpired (<c>now &gt; when</c>),
    /// a key is still live during the millisecond its expiry names: PTTL answers 0 then, not -2.
    /// </summary>
    public bool IsExpiredAt(long nowMs) => ExpireAtMs >= 0 && ExpireAtMs < nowMs;

    /// <summary>Position in the database's volatile-key index, or -1.</summary>
    internal int ExpiryIndex { get; set; } = -1;

    internal Entry? Next;

    /// <summary>Last access, in seconds of the shard's LRU clock (OBJECT IDLETIME).</summary>
    public long LastAccessSec { get; set; }

    public StringEncoding Encoding { get; set; }
}
