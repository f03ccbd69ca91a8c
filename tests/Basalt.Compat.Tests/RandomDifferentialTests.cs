using System.Text;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// Seeded random command sequences, sent to redis-server and to Basalt on one connection each, every reply compared
/// as a RESP value. The scripts in cases/*.redis pin the cases someone thought of; this walks the combinations nobody
/// wrote down: odd option orders, values at the edges of long and long double, keys on both shards and in two
/// databases, state built up by earlier commands. Timing cannot decide a reply: every relative expiry is at least
/// 100 s or already past, and TTL-style replies (which depend on each server's clock) are compared by shape only.
/// </summary>
[Collection("oracles")]
public sealed class RandomDifferentialTests(Oracles oracles)
{
    private const int Steps = 400;

    private static readonly string[] Keys = ["a", "b", "c", "{t}a", "{t}b", "n", "s"];

    private static readonly string[] Values =
    [
        "", "0", "1", "-1", "10", "abc", "3.5", "-0", "1e3", "0x10", "inf", "nan", " 1", "1 ", "00", "+1",
        "9223372036854775807", "-9223372036854775808", "12345678901234567890", "1.7976931348623157e308", "hello world",
    ];

    private static readonly string[] Numbers =
    [
        "0", "1", "-1", "2", "100", "-100", "1.5", "abc", "", " 1", "9223372036854775807", "-9223372036854775808",
        "9223372036854775808", "2147483648", "-2147483649",
    ];

    // Seconds and milliseconds that never expire a key during a run: negative, zero, past, far future, invalid.
    // As a relative time, 100 is 100 s; as an absolute one it is long past, so the key goes at once. GT and LT go with
    // absolute times only: two relative deadlines set a few ms apart from the same offset (EX 100, then EXPIRE 100 GT;
    // or PX 4102444800000, then EXPIRE 4102444800 GT) compare by which millisecond each command ran in.
    private static readonly string[] Seconds = ["0", "-1", "100", "1000", "4102444800", "abc", "1.5", "9223372036854775807", "9223372036854776", ""];

    private static readonly string[] Millis = ["0", "-1", "100000", "4102444800000", "4102444800700", "abc", "9223372036854775807", "-9223372036854775808", ""];

    private static readonly string[] ShapeOnly = ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"];

    public static TheoryData<int, int> Runs()
    {
        var data = new TheoryData<int, int>();
        for (var seed = 1; seed <= 8; seed++)
        {
            data.Add(seed, 2);
            data.Add(seed, 3);
        }

        return data;
    }

    [Theory]
    [MemberData(nameof(Runs))]
    public void Random_command_sequences_match_redis(int seed, int protocol)
    {
        var rng = new Random(seed);
        using var redis = Differential.Open(oracles.Redis, protocol);
        using var basalt = Differential.Open(oracles.Basalt, protocol);
        var history = new List<string>();
        var answered = 0;
        long mostKeys = 0;
        for (var step = 0; step < Steps; step++)
        {
            var args = Next(rng);
            var text = string.Join(' ', args.Select(a => '"' + a + '"'));
            history.Add(text);
            var bytes = args.Select(Encoding.UTF8.GetBytes).ToArray();
            var expected = redis.Call(bytes);
            var actual = basalt.Call(bytes);
            answered += expected.Type is RespType.Error or RespType.BulkError ? 0 : 1;
            if (step % 50 == 49)
            {
                // Read off Redis alone (DBSIZE changes nothing): how full the keyspace got along the way.
                mostKeys = Math.Max(mostKeys, redis.Call("DBSIZE").Integer);
            }

            var mode = args[0] == "KEYS" ? Compare.Sorted : ShapeOnly.Contains(args[0]) ? Compare.Shape : Compare.Exact;
            if (!Differential.Same(mode, expected, actual))
            {
                Assert.Fail(
                    $"seed {seed} RESP{protocol} step {step}: {text}\n  redis:  {expected}\n  basalt: {actual}\n  before:\n    "
                    + string.Join("\n    ", history.TakeLast(8)));
            }
        }

        // The runs must exercise the data path, not only its errors: most commands are answered without one, keys were
        // there along the way (a run may end with a FLUSHALL), and the final keyspace is compared too.
        Assert.True(answered > Steps / 2, $"seed {seed}: only {answered} of {Steps} commands were answered without an error");
        Assert.True(mostKeys > 0, $"seed {seed}: the keyspace stayed empty");
        var keys = redis.Call("KEYS", "*");
        Assert.True(Differential.Same(Compare.Sorted, keys, basalt.Call("KEYS", "*")), $"seed {seed}: keyspaces differ");
        foreach (var key in keys.Items!)
        {
            Assert.Equal(redis.Call("GET", key.Text), basalt.Call("GET", key.Text));
        }
    }

    /// <summary>
    /// The same commands in pipelined batches of 1 to 60, written at once: the connection groups them per shard,
    /// holds on barriers (SELECT, MSET, FLUSHDB…) and must still answer each exactly as Redis does, in order.
    /// </summary>
    [Theory]
    [MemberData(nameof(Runs))]
    public void Random_pipelines_match_redis(int seed, int protocol) => MatchPipelines(seed, protocol, 1000 + seed, Next);

    /// <summary>
    /// Pipelines made mostly of multi-key commands, so that runs of them form batches (a connection runs such a run as one
    /// op over its shards), broken by keyed commands, MSETNX, errors, SELECT and the rest: each reply, in order, as Redis's.
    /// </summary>
    [Theory]
    [MemberData(nameof(Runs))]
    public void Random_multi_key_pipelines_match_redis(int seed, int protocol) => MatchPipelines(seed, protocol, 2000 + seed, NextMostlyMultiKey);

    private void MatchPipelines(int seed, int protocol, int rngSeed, Func<Random, string[]> next)
    {
        var rng = new Random(rngSeed);
        using var redis = Differential.Open(oracles.Redis, protocol);
        using var basalt = Differential.Open(oracles.Basalt, protocol);
        for (var batch = 0; batch < 12; batch++)
        {
            var commands = new List<string[]>();
            var size = 1 + rng.Next(60);
            while (commands.Count < size)
            {
                var args = next(rng);
                if (!ShapeOnly.Contains(args[0]) && args[0] != "KEYS")
                {
                    commands.Add(args);
                }
            }

            var wire = commands.SelectMany(a => RespConnection.Encode(a)).ToArray();
            redis.SendRaw(wire);
            basalt.SendRaw(wire);
            for (var i = 0; i < commands.Count; i++)
            {
                var expected = redis.Read();
                var actual = basalt.Read();
                if (!expected.Equals(actual))
                {
                    Assert.Fail(
                        $"seed {seed} RESP{protocol} batch {batch} command {i} of {commands.Count}: {string.Join(' ', commands[i])}\n"
                        + $"  redis:  {expected}\n  basalt: {actual}\n  before: "
                        + string.Join(" | ", commands.Take(i).TakeLast(6).Select(a => string.Join(' ', a))));
                }
            }
        }
    }

    private static string[] NextMostlyMultiKey(Random rng)
    {
        if (rng.Next(4) == 0)
        {
            return Next(rng);
        }

        var keys = Enumerable.Range(0, 1 + rng.Next(4)).Select(_ => Keys[rng.Next(Keys.Length)]).ToList();
        var values = keys.SelectMany(k => new[] { k, Values[rng.Next(Values.Length)] });
        return rng.Next(8) switch
        {
            0 or 1 => ["MGET", .. keys],
            2 or 3 => ["MSET", .. values],
            4 => ["MSETNX", .. values],
            5 => ["DEL", .. keys],
            6 => ["EXISTS", .. keys],
            _ => [rng.Next(2) == 0 ? "UNLINK" : "TOUCH", .. keys],
        };
    }

    private static string[] Next(Random rng)
    {
        string K() => Keys[rng.Next(Keys.Length)];
        string V() => Values[rng.Next(Values.Length)];
        string N() => Numbers[rng.Next(Numbers.Length)];
        string S() => Seconds[rng.Next(Seconds.Length)];
        string M() => Millis[rng.Next(Millis.Length)];
        string Any(params string[] words) => words[rng.Next(words.Length)];
        IEnumerable<string[]> Opts(int max, Func<string[]> pick) => Enumerable.Range(0, rng.Next(max + 1)).Select(_ => pick()).ToList();
        string[] ExpireOption() => Any("EX", "PX", "EXAT", "PXAT", "PERSIST", "KEEPTTL", "NX", "XX", "GET") switch
        {
            "EX" => ["EX", S()],
            "PX" => ["PX", M()],
            "EXAT" => ["EXAT", S()],
            "PXAT" => ["PXAT", M()],
            var w => [w],
        };
        string[] With(string[] head, IEnumerable<string[]> tail) => [.. head, .. tail.SelectMany(t => t)];

        return rng.Next(40) switch
        {
            0 => With(["SET", K(), V()], Opts(3, ExpireOption)),
            1 => ["GET", K()],
            2 => With(["MGET"], Opts(4, () => [K()])),
            3 => With(["MSET"], Opts(3, () => [K(), V()]).Concat(Opts(1, () => [K()]))),
            4 => With(["MSETNX"], Opts(3, () => [K(), V()])),
            5 => [Any("INCR", "DECR"), K()],
            6 => [Any("INCRBY", "DECRBY"), K(), N()],
            7 => ["INCRBYFLOAT", K(), rng.Next(2) == 0 ? V() : N()],
            8 => ["APPEND", K(), V()],
            9 => ["STRLEN", K()],
            10 => [Any("GETRANGE", "SUBSTR"), K(), N(), N()],
            11 => ["SETRANGE", K(), Any("0", "1", "5", "-1", "9223372036854775807", "536870912", "abc"), V()],
            12 => ["GETSET", K(), V()],
            13 => ["GETDEL", K()],
            14 => With(["GETEX", K()], Opts(3, ExpireOption)),
            15 => ["SETNX", K(), V()],
            16 => [Any("SETEX", "PSETEX"), K(), rng.Next(2) == 0 ? S() : M(), V()],
            17 => With([Any("DEL", "UNLINK", "EXISTS", "TOUCH")], Opts(3, () => [K()])),
            18 => ["TYPE", K()],
            19 => [Any("RENAME", "RENAMENX"), K(), K()],
            20 => With(["COPY", K(), K()], Opts(2, () => rng.Next(2) == 0 ? ["REPLACE"] : ["DB", Any("0", "1", "16", "x", "2147483648")])),
            21 => ["MOVE", K(), Any("0", "1", "15", "16", "-1", "x", "9223372036854775807")],
            22 => rng.Next(2) == 0
                ? With(["EXPIREAT", K(), S()], Opts(2, () => [Any("NX", "XX", "GT", "LT")]))
                : With(["EXPIRE", K(), S()], Opts(2, () => [Any("NX", "XX")])),
            23 => rng.Next(2) == 0
                ? With(["PEXPIREAT", K(), M()], Opts(2, () => [Any("NX", "XX", "GT", "LT")]))
                : With(["PEXPIRE", K(), M()], Opts(2, () => [Any("NX", "XX")])),
            24 => ["PERSIST", K()],
            25 => [Any("TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"), K()],
            26 => ["OBJECT", Any("ENCODING", "REFCOUNT", "FREQ", "foo"), K()],
            27 => With(["LCS", K(), K()], Opts(3, () => rng.Next(4) == 0 ? ["MINMATCHLEN", N()] : [Any("LEN", "IDX", "WITHMATCHLEN")])),
            28 => ["SET", K(), string.Concat(Enumerable.Range(0, rng.Next(12)).Select(_ => Any("a", "b", "c")))],
            29 => ["STRLEN", K()], // not DBSIZE: see the waiver on when expired keys are reclaimed
            30 => ["SELECT", Any("0", "1", "0", "16", "x", "2147483648")],
            31 => With(["SWAPDB"], Opts(2, () => [Any("0", "1", "x", "16")])),
            32 => ["KEYS", string.Concat(Enumerable.Range(0, rng.Next(6)).Select(_ => Any("a", "b", "{", "}", "t", "*", "?", "[", "]", "^", "-", "\\")))],
            33 => With(["ECHO"], Opts(2, () => [V()])),
            34 => With(["PING"], Opts(2, () => [V()])),
            35 => [Any("FLUSHDB", "PING")],
            36 => With(["CONFIG", "SET"], Opts(3, () => [Any("hz", "10", "11", "abc")])),
            37 => With(["NOSUCHCOMMAND"], Opts(2, () => [V()])),
            38 => ["SET", K(), V(), Any("NX", "XX", "GET")],
            _ => ["EXISTS", K(), K()],
        };
    }
}
