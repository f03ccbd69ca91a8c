using System.Globalization;
using Basalt.Engine;
using Basalt.Protocol;

namespace Basalt.Server.Tests;

/// <summary>
/// Multi-key commands whose keys live on different shards are atomic: concurrent readers
/// never see a half-applied MSET, DEL or RENAME. Bounded by iteration counts, not time.
/// </summary>
[Collection("basalt")]
public sealed class AtomicityTests(BasaltFixture fixture)
{
    private static readonly string[] Keys = Enumerable.Range(0, 10).Select(i => $"atom:{i}").ToArray();

    [Fact]
    public void The_ten_keys_really_span_shards()
    {
        var slots = new SlotMap(4);
        Assert.True(Keys.Select(k => slots.ShardOf(System.Text.Encoding.UTF8.GetBytes(k))).Distinct().Count() >= 3);
    }

    [Fact]
    public void Readers_never_see_a_mix_of_concurrent_MSETs()
    {
        var torn = RunStress(
            writers: 6,
            writerOps: 400,
            writer: (c, w, i) => Assert.Equal("OK", c.Call(Keys.SelectMany(k => new[] { k, $"w{w}-{i}" }).Prepend("MSET").ToArray()).Text),
            readers: 3,
            readerOps: 600,
            check: c =>
            {
                var values = c.Call(Keys.Prepend("MGET").ToArray()).Items!.Select(v => v.IsNull ? null : v.Text).ToList();
                return values.Distinct().Count() == 1 ? null : string.Join(",", values);
            });
        Assert.Null(torn);

        // What is left is one writer's last MSET, whole.
        using var check = fixture.Connect();
        var final = check.Call(Keys.Prepend("MGET").ToArray()).Items!.Select(v => v.Text).Distinct().ToList();
        Assert.Single(final);
        Assert.Matches("^w[0-5]-399$", final[0]);
    }

    [Fact]
    public void Readers_see_all_or_none_under_concurrent_DEL()
    {
        var torn = RunStress(
            writers: 4,
            writerOps: 300,
            writer: (c, w, i) =>
            {
                if (i % 2 == 0)
                {
                    Assert.Equal("OK", c.Call(Keys.SelectMany(k => new[] { k, $"w{w}-{i}" }).Prepend("MSET").ToArray()).Text);
                }
                else
                {
                    // An atomic DEL finds all ten keys or none of them.
                    var deleted = c.Call(Keys.Prepend("DEL").ToArray());
                    Assert.Equal(RespType.Integer, deleted.Type);
                    Assert.True(deleted.Integer is 0 or 10, $"DEL deleted {deleted.Integer} of the ten keys");
                }
            },
            readers: 3,
            readerOps: 600,
            check: c =>
            {
                var values = c.Call(Keys.Prepend("MGET").ToArray()).Items!.Select(v => v.IsNull ? "(nil)" : v.Text).ToList();
                if (values.Distinct().Count() != 1)
                {
                    return string.Join(",", values);
                }

                var exists = c.Call(Keys.Prepend("EXISTS").ToArray());
                return exists.Type == RespType.Integer && exists.Integer is 0 or 10 ? null : $"EXISTS={exists.Integer} ({exists.Type})";
            });
        Assert.Null(torn);

        // Every writer's last command was a DEL.
        using var check = fixture.Connect();
        Assert.All(check.Call(Keys.Prepend("MGET").ToArray()).Items!, v => Assert.True(v.IsNull));
    }

    [Fact]
    public void Whole_keyspace_readers_never_see_part_of_an_MSET_or_DEL_holding_only_its_keys()
    {
        // MSET and DEL hold only their keys on each shard; KEYS holds every shard whole. Each batch is
        // ten keys spread over the shards, written and deleted as one, so KEYS must count a multiple of ten.
        static string[] Batch(int w, int i) => Enumerable.Range(0, 10).Select(j => $"batch-{w}-{i}-{j}").ToArray();
        var torn = RunStress(
            writers: 6,
            writerOps: 500,
            writer: (c, w, i) =>
            {
                Assert.Equal("OK", c.Call(Batch(w, i).SelectMany(k => new[] { k, "v" }).Prepend("MSET").ToArray()).Text);
                if (i % 3 == 2)
                {
                    Assert.Equal(10, c.Call(Batch(w, i - 1).Prepend("DEL").ToArray()).Integer);
                }
            },
            readers: 3,
            readerOps: 300,
            check: c =>
            {
                var n = c.Call("KEYS", "batch-*").Items!.Count;
                return n % 10 == 0 ? null : $"KEYS saw {n} batch keys";
            });
        Assert.Null(torn);

        // Each writer deleted one batch in three (i = 2, 5, … 497: 166 of 500); the rest are all there.
        using var check = fixture.Connect();
        Assert.Equal(6 * (500 - 166) * 10, check.Call("KEYS", "batch-*").Items!.Count);
    }

    [Fact]
    public void A_key_renamed_back_and_forth_across_shards_always_exists_exactly_once()
    {
        const string A = "ren:a";
        const string B = "ren:b{x}";
        var slots = new SlotMap(4);
        Assert.NotEqual(slots.ShardOf("ren:a"u8), slots.ShardOf("ren:b{x}"u8));
        using (var setup = fixture.Connect())
        {
            setup.Call("DEL", A, B);
            setup.Call("SET", A, "payload");
        }

        var torn = RunStress(
            writers: 1,
            writerOps: 1000,
            writer: (c, _, i) =>
            {
                var r = i % 2 == 0 ? c.Call("RENAME", A, B) : c.Call("RENAME", B, A);
                if (r.Type == RespType.Error)
                {
                    throw new InvalidOperationException(r.Text);
                }
            },
            readers: 3,
            readerOps: 800,
            check: c =>
            {
                var exists = c.Call("EXISTS", A, B).Integer;
                var values = c.Call("MGET", A, B).Items!;
                var present = values.Count(v => !v.IsNull);

                // KEYS holds every shard whole, so it waits for RENAME's key holds on both shards.
                var listed = c.Call("KEYS", "ren:*").Items!.Count;
                return exists == 1 && present == 1 && listed == 1 ? null : $"EXISTS={exists} present={present} KEYS={listed}";
            });
        Assert.Null(torn);
    }

    [Fact]
    public void Racing_MSETNX_across_shards_has_one_winner_per_key_set_and_readers_never_see_a_mix()
    {
        // MSETNX checks every key on every shard, then sets them all: two phases under the same key holds.
        // Four writers race on each set of ten keys; exactly one may win, and its value must be in all ten.
        const int Rounds = 150;
        const int Writers = 4;
        static string[] RoundKeys(int r) => Keys.Select(k => $"{k}:nx{r}").ToArray();
        using (var setup = fixture.Connect())
        {
            for (var r = 0; r < Rounds; r++)
            {
                setup.Call(RoundKeys(r).Prepend("DEL").ToArray());
            }
        }

        var wins = new int[Rounds];
        var torn = RunStress(
            writers: Writers,
            writerOps: Rounds,
            writer: (c, w, r) =>
            {
                var reply = c.Call(RoundKeys(r).SelectMany(k => new[] { k, $"w{w}" }).Prepend("MSETNX").ToArray());
                if (reply.Integer == 1)
                {
                    Interlocked.Increment(ref wins[r]);
                }
            },
            readers: 3,
            readerOps: 500,
            check: c =>
            {
                var r = Random.Shared.Next(Rounds);
                var values = c.Call(RoundKeys(r).Prepend("MGET").ToArray()).Items!.Select(v => v.IsNull ? "(nil)" : v.Text).ToList();
                return values.Distinct().Count() == 1 ? null : $"round {r}: {string.Join(",", values)}";
            });
        Assert.Null(torn);
        Assert.All(wins, n => Assert.Equal(1, n));
        using var check = fixture.Connect();
        for (var r = 0; r < Rounds; r++)
        {
            var values = check.Call(RoundKeys(r).Prepend("MGET").ToArray()).Items!.Select(v => v.Text).Distinct().ToList();
            Assert.Single(values);
            Assert.StartsWith("w", values[0], StringComparison.Ordinal);
        }
    }

    /// <summary>
    /// Pipelined ops run in batches (<c>OpRun.StartBatch</c>): one writer pipelines rising MSETs of the ten keys, 16 at a
    /// time, with DELs among them, while readers pipeline MGETs of them. Each MGET must see one MSET whole, or the keys
    /// deleted, and a reader must never see the writer's MSETs take effect out of order.
    /// </summary>
    [Fact]
    public void Pipelined_batches_of_ops_stay_atomic_and_take_effect_in_order()
    {
        const int Pipelines = 150;
        const int Depth = 16;
        string[] keys = Keys.Select(k => "batch:" + k).ToArray();
        var written = 0;
        var errors = new List<Exception>();
        string? torn = null;
        var writer = new Thread(() => Guard(errors, () =>
        {
            using var c = fixture.Connect();
            for (var p = 0; p < Pipelines; p++)
            {
                var ms = new MemoryStream();
                for (var i = 0; i < Depth; i++)
                {
                    var n = ((p * Depth) + i).ToString(CultureInfo.InvariantCulture);
                    ms.Write(Testing.RespConnection.Encode(i == Depth / 2 ? keys.Prepend("DEL").ToArray() : keys.SelectMany(k => new[] { k, n }).Prepend("MSET").ToArray()));
                }

                c.SendRaw(ms.ToArray());
                for (var i = 0; i < Depth; i++)
                {
                    Assert.NotEqual(RespType.Error, c.Read().Type);
                }
            }

            Volatile.Write(ref written, 1);
        }));
        var readers = Enumerable.Range(0, 3).Select(_ => new Thread(() => Guard(errors, () =>
        {
            using var c = fixture.Connect();
            var last = -1;
            var request = Enumerable.Repeat(Testing.RespConnection.Encode(keys.Prepend("MGET").ToArray()), Depth).SelectMany(b => b).ToArray();
            while (Volatile.Read(ref written) == 0 && torn is null)
            {
                c.SendRaw(request);
                for (var i = 0; i < Depth; i++)
                {
                    var values = c.Read().Items!.Select(v => v.IsNull ? null : v.Text).Distinct().ToList();
                    if (values.Count != 1)
                    {
                        Interlocked.CompareExchange(ref torn, "mixed: " + string.Join(",", values), null);
                        return;
                    }

                    // A DEL comes after the 8th MSET of a pipeline and before the 9th: nil says nothing of the order.
                    if (values[0] is { } text)
                    {
                        var seen = int.Parse(text, CultureInfo.InvariantCulture);
                        if (seen < last)
                        {
                            Interlocked.CompareExchange(ref torn, $"went back from {last} to {seen}", null);
                            return;
                        }

                        last = seen;
                    }
                }
            }
        }))).ToList();
        readers.ForEach(t => t.Start());
        writer.Start();
        Assert.True(writer.Join(TimeSpan.FromMinutes(2)), "writer did not finish");
        readers.ForEach(t => Assert.True(t.Join(TimeSpan.FromMinutes(2)), "reader did not finish"));
        Assert.Empty(errors);
        Assert.Null(torn);
        using var check = fixture.Connect();
        var final = ((Pipelines * Depth) - 1).ToString(CultureInfo.InvariantCulture);
        Assert.All(check.Call(keys.Prepend("MGET").ToArray()).Items!, v => Assert.Equal(final, v.Text));
    }

    [Fact]
    public void Hundreds_of_clients_pipelining_cross_shard_ops_all_get_their_answers()
    {
        const int Clients = 300;
        const int PerClient = 40;
        var conns = Enumerable.Range(0, Clients).Select(_ => fixture.Connect()).ToList();
        try
        {
            // Every client sends its whole pipeline before anyone reads: the shards' hold queues fill up.
            for (var c = 0; c < Clients; c++)
            {
                var ms = new MemoryStream();
                for (var i = 0; i < PerClient; i++)
                {
                    ms.Write(Testing.RespConnection.Encode(Keys.SelectMany(k => new[] { k, $"c{c}-{i}" }).Prepend("MSET").ToArray()));
                    ms.Write(Testing.RespConnection.Encode(Keys.Prepend("MGET").ToArray()));
                    ms.Write(Testing.RespConnection.Encode("SET", $"pipe:{c}", i.ToString(CultureInfo.InvariantCulture)));
                }

                conns[c].SendRaw(ms.ToArray());
            }

            for (var c = 0; c < Clients; c++)
            {
                for (var i = 0; i < PerClient; i++)
                {
                    Assert.Equal("OK", conns[c].Read().Text);
                    var values = conns[c].Read().Items!.Select(v => v.Text).Distinct().Count();
                    Assert.Equal(1, values);
                    Assert.Equal("OK", conns[c].Read().Text);
                }
            }
        }
        finally
        {
            conns.ForEach(c => c.Dispose());
        }
    }

    [Fact]
    public void Back_to_back_key_holding_and_shard_holding_ops_on_one_connection_answer_in_order()
    {
        // A connection reuses its op coordinator once the releases of its last op have run on their shards; pipelined
        // ops come back to back, so the next op often starts while those releases are still queued. Two connections
        // interleave ops that hold keys (MSET, DEL, MGET, EXISTS) with ops that hold whole shards (KEYS, DBSIZE).
        const int Rounds = 300;
        static string[] Ten(int c) => Enumerable.Range(0, 10).Select(j => $"b2b:{c}:{j}").ToArray();
        var conns = Enumerable.Range(0, 6).Select(_ => fixture.Connect()).ToArray();
        try
        {
            for (var c = 0; c < conns.Length; c++)
            {
                var ms = new MemoryStream();
                for (var i = 0; i < Rounds; i++)
                {
                    ms.Write(Testing.RespConnection.Encode(Ten(c).SelectMany(k => new[] { k, $"{i}" }).Prepend("MSET").ToArray()));
                    ms.Write(Testing.RespConnection.Encode("KEYS", $"b2b:{c}:*"));
                    ms.Write(Testing.RespConnection.Encode(Ten(c).Prepend("MGET").ToArray()));
                    ms.Write(Testing.RespConnection.Encode(Ten(c).Prepend("DEL").ToArray()));
                    ms.Write(Testing.RespConnection.Encode("DBSIZE"));
                    ms.Write(Testing.RespConnection.Encode(Ten(c).Prepend("EXISTS").ToArray()));
                }

                conns[c].SendRaw(ms.ToArray());
            }

            for (var c = 0; c < conns.Length; c++)
            {
                for (var i = 0; i < Rounds; i++)
                {
                    var round = i.ToString(CultureInfo.InvariantCulture);
                    Assert.Equal("OK", conns[c].Read().Text);
                    Assert.Equal(10, conns[c].Read().Items!.Count);
                    Assert.All(conns[c].Read().Items!, v => Assert.Equal(round, v.Text));
                    Assert.Equal(10, conns[c].Read().Integer);
                    Assert.Equal(RespType.Integer, conns[c].Read().Type);
                    var exists = conns[c].Read();
                    Assert.Equal(RespType.Integer, exists.Type);
                    Assert.Equal(0, exists.Integer);
                }
            }
        }
        finally
        {
            Array.ForEach(conns, c => c.Dispose());
        }
    }

    /// <summary>Runs writer and reader threads on their own connections; returns the first torn read seen.</summary>
    private string? RunStress(int writers, int writerOps, Action<Testing.RespConnection, int, int> writer, int readers, int readerOps, Func<Testing.RespConnection, string?> check)
    {
        string? torn = null;
        var errors = new List<Exception>();
        var threads = new List<Thread>();
        for (var w = 0; w < writers; w++)
        {
            var id = w;
            threads.Add(new Thread(() => Guard(errors, () =>
            {
                using var c = fixture.Connect();
                for (var i = 0; i < writerOps; i++)
                {
                    writer(c, id, i);
                }
            })));
        }

        for (var r = 0; r < readers; r++)
        {
            threads.Add(new Thread(() => Guard(errors, () =>
            {
                using var c = fixture.Connect();
                for (var i = 0; i < readerOps; i++)
                {
                    var bad = check(c);
                    if (bad is not null)
                    {
                        Interlocked.CompareExchange(ref torn, bad, null);
                        return;
                    }
                }
            })));
        }

        threads.ForEach(t => t.Start());
        threads.ForEach(t => Assert.True(t.Join(TimeSpan.FromMinutes(2)), "stress thread did not finish"));
        Assert.Empty(errors);
        return torn;
    }

    private static void Guard(List<Exception> errors, Action body)
    {
        try
        {
            body();
        }
        catch (Exception ex)
        {
            lock (errors)
            {
                errors.Add(ex);
            }
        }
    }
}
