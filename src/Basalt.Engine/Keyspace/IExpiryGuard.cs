namespace Basalt.Engine.Keyspace;

/// <summary>Tells active expiry which keys it must not delete now: those a multi-shard op holds between its phases.</summary>
public interface IExpiryGuard
{
    bool IsHeld(int db, ReadOnlySpan<byte> key);
}
