using System.Globalization;
using System.Text;
using Basalt.Engine;
using Basalt.Engine.Keyspace;

namespace Basalt.Engine.Tests;

/// <summary>
/// The effect stream is the whole story of the keyspace: replaying what random command sequences emitted, into an
/// empty store, rebuilds exactly the keys, values and expiry times the commands left (including keys whose time has
/// passed but that nothing has reaped yet). A mutation that forgot to emit, or emitted something other than what it
/// did, shows up as a difference here. The write-ahead log will replay the same records on recovery.
/// </summary>
public sealed class EffectReplayTests
{
    private const int Databases = 3;

    [Fact]
    public void Replaying_the_effects_of_random_command_sequences_rebuilds_the_same_keyspace()
    {
        var commandsRun = new HashSet<string>(StringComparer.Ordinal);
        for (var seed = 1; seed <= 300; seed++)
        {
            var rng = new Random(seed);
            var h = new EngineHarness();
            for (var step = 0; step < 400; step++)
            {
                var command = NextCommand(rng, h);
                if (command is null)
                {
                    continue;
                }

                commandsRun.Add(command[0]);
                h.Db = rng.Next(Databases);
                h.Run(command);
            }

            var replayed = new ShardStore(0, 16, NullEffectSink.Instance);
            foreach (var effect in h.Sink.Effects)
            {
                Apply(replayed, effect);
            }

            for (var db = 0; db < 16; db++)
            {
                Assert.True(Dump(h.Store.Dbs[db]).SequenceEqual(Dump(replayed.Dbs[db])), $"seed {seed}, db {db}: the replayed keyspace differs\nexpected: {Show(h.Store.Dbs[db])}\nreplayed: {Show(replayed.Dbs[db])}");
            }
        }

        // Every kind of command in the generator ran at least once, so none of them escaped the comparison.
        Assert.Equal(Generated.Length, commandsRun.Count);
    }

    private static readonly string[] Generated =
    [
        "SET", "SETNX", "SETEX", "PSETEX", "MSET", "MSETNX", "GETSET", "GETDEL", "GETEX", "APPEND", "INCR", "DECR", "INCRBY",
        "DECRBY", "INCRBYFLOAT", "SETRANGE", "DEL", "UNLINK", "RENAME", "RENAMENX", "COPY", "MOVE", "EXPIRE", "PEXPIRE",
        "EXPIREAT", "PEXPIREAT", "PERSIST", "FLUSHDB", "FLUSHALL", "SWAPDB", "GET", "EXISTS", "TTL",
    ];

    /// <summary>
    /// One random command over a few keys and values, so that commands collide; or, instead of a command, time moves on
    /// or the active expiry cycle runs (null).
    /// </summary>
    private static string[]? NextCommand(Random rng, EngineHarness h)
    {
        string Key() => "k" + rng.Next(5).ToString(CultureInfo.InvariantCulture);
        string Value() => rng.Next(4) switch
        {
            0 => rng.Next(-5, 100).ToString(CultureInfo.InvariantCulture),
            1 => "1.5",
            2 => string.Empty,
            _ => "v" + rng.Next(3).ToString(CultureInfo.InvariantCulture),
        };
        string Ms() => rng.Next(-50, 300).ToString(CultureInfo.InvariantCulture);
        string Sec() => rng.Next(-1, 3).ToString(CultureInfo.InvariantCulture);
        string AtMs() => (h.NowMs + rng.Next(-100, 300)).ToString(CultureInfo.InvariantCulture);
        string AtSec() => ((h.NowMs / 1000) + rng.Next(-1, 3)).ToString(CultureInfo.InvariantCulture);
        string Db() => rng.Next(Databases).ToString(CultureInfo.InvariantCulture);
        string[] Pick(params string[][] choices) => choices[rng.Next(choices.Length)];

        switch (rng.Next(Generated.Length + 2))
        {
            case var n when n == Generated.Length:
                h.NowMs += rng.Next(0, 200);
                return null;
            case var n when n == Generated.Length + 1:
                h.Store.ActiveExpire(h.NowMs, TimeSpan.FromMilliseconds(50));
                return null;
            case var n:
                var name = Generated[n];
                string[] tail = name switch
                {
                    "SET" => [Key(), Value(), .. Pick([], ["NX"], ["XX"], ["GET"]), .. Pick([], ["EX", Sec()], ["PX", Ms()], ["EXAT", AtSec()], ["PXAT", AtMs()], ["KEEPTTL"], ["IFEQ", Value()], ["IFNE", Value()])],
                    "SETEX" => [Key(), Sec(), Value()],
                    "PSETEX" => [Key(), Ms(), Value()],
                    "MSET" or "MSETNX" => [Key(), Value(), Key(), Value()],
                    "SETNX" or "GETSET" or "APPEND" => [Key(), Value()],
                    "GETEX" => [Key(), .. Pick([], ["EX", Sec()], ["PX", Ms()], ["EXAT", AtSec()], ["PXAT", AtMs()], ["PERSIST"])],
                    "INCRBY" or "DECRBY" => [Key(), rng.Next(-10, 10).ToString(CultureInfo.InvariantCulture)],
                    "INCRBYFLOAT" => [Key(), Pick(["0.5"], ["-3"], ["1e2"])[0]],
                    "SETRANGE" => [Key(), rng.Next(0, 6).ToString(CultureInfo.InvariantCulture), Value()],
                    "DEL" or "UNLINK" => [Key(), Key()],
                    "RENAME" or "RENAMENX" => [Key(), Key()],
                    "COPY" => [Key(), Key(), .. Pick([], ["DB", Db()], ["REPLACE"], ["DB", Db(), "REPLACE"])],
                    "MOVE" => [Key(), Db()],
                    "EXPIRE" => [Key(), Sec(), .. Pick([], ["NX"], ["XX"], ["GT"], ["LT"])],
                    "PEXPIRE" => [Key(), Ms(), .. Pick([], ["NX"], ["XX"], ["GT"], ["LT"])],
                    "EXPIREAT" => [Key(), AtSec(), .. Pick([], ["NX"], ["GT"])],
                    "PEXPIREAT" => [Key(), AtMs(), .. Pick([], ["XX"], ["LT"])],
                    "FLUSHDB" or "FLUSHALL" => rng.Next(8) == 0 ? [] : null!,
                    "SWAPDB" => [Db(), Db()],
                    _ => [Key()],
                };

                // FLUSHDB and FLUSHALL are rare, so that keys build up between them.
                return tail is null ? null : [name, .. tail];
        }
    }

    private static void Apply(ShardStore store, (EffectKind Kind, int Db, string Key, string Value, long ExpireAt) effect)
    {
        // Time 0: nothing replayed is treated as expired, since the records already say what expiry removed.
        var db = store.Dbs[effect.Db];
        var key = Encoding.UTF8.GetBytes(effect.Key);
        switch (effect.Kind)
        {
            case EffectKind.SetString:
                db.SetString(key, Encoding.UTF8.GetBytes(effect.Value), effect.ExpireAt, keepTtl: false, nowMs: 0);
                break;
            case EffectKind.Delete:
                Assert.True(db.Delete(key, 0), $"a delete of {effect.Key} in db {effect.Db}, which the replay does not hold");
                break;
            case EffectKind.Expire:
            case EffectKind.Persist:
                var e = db.Find(key, 0);
                Assert.True(e is not null, $"an expiry change of {effect.Key} in db {effect.Db}, which the replay does not hold");
                db.SetExpire(e!, effect.Kind == EffectKind.Expire ? effect.ExpireAt : -1);
                break;
            case EffectKind.FlushDb:
                db.Flush();
                break;
            case EffectKind.SwapDb:
                store.SwapDb(effect.Db, (int)effect.ExpireAt);
                break;
            default:
                Assert.Fail($"effect kind {effect.Kind} has no replay");
                break;
        }
    }

    private static List<(string Key, string Value, long ExpireAt)> Dump(Database db)
    {
        var list = new List<(string, string, long)>();
        foreach (var e in db.Table)
        {
            list.Add((Encoding.UTF8.GetString(e.Key), Encoding.UTF8.GetString(e.StringBytes), e.ExpireAtMs));
        }

        list.Sort();
        return list;
    }

    private static string Show(Database db) => string.Join(" ", Dump(db).Select(x => $"{x.Key}={x.Value}@{x.ExpireAt}"));
}
