using System.Text;
using Basalt.Engine.Keyspace;
using Basalt.Testing;
using FsCheck;
using FsCheck.Fluent;

namespace Basalt.Engine.Tests;

public sealed class KeyTableTests
{
    [Fact]
    public void Prefetching_lookups_is_safe_in_any_table_state_and_allocates_nothing()
    {
        // Given a table with empty buckets, chains, and objects the GC has since moved
        var table = new KeyTable();
        var keys = Enumerable.Range(0, 300).Select(i => Encoding.ASCII.GetBytes($"k:{i}")).ToArray();
        foreach (var k in keys.Take(200))
        {
            table.Add(new Entry(k, KeyHash.Of(k), new byte[] { 1, 2, 3 }));
        }

        GC.Collect(2, GCCollectionMode.Forced, blocking: true, compacting: true);

        // When every stage is issued for present and absent keys, in batches of every size
        var allocated = Allocations.FewestPerRound(() =>
        {
            var prefetch = default(LookupPrefetch);
            for (var round = 0; round < 100; round++)
            {
                foreach (var k in keys)
                {
                    prefetch.Add(k);
                    if (prefetch.IsFull || k.Length % 7 == round % 7)
                    {
                        prefetch.Run(table);
                    }
                }

                prefetch.Run(table);
            }
        });

        // Then nothing was allocated and every lookup answers as before
        Assert.Equal(0, allocated);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i < 200, table.Find(keys[i], KeyHash.Of(keys[i])) is not null);
        }
    }

    [Fact]
    public void Scan_visits_every_key_present_for_the_whole_scan_even_across_resizes()
    {
        var stepsMidResize = 0;
        Prop.ForAll<int[]>(Arb.From(Gen.ArrayOf(Gen.Choose(-200, 400))), (Func<int[], bool>)(ops =>
        {
            var table = new KeyTable();
            var stable = new List<byte[]>();
            for (var i = 0; i < 50; i++)
            {
                var k = Encoding.ASCII.GetBytes($"stable:{i}");
                stable.Add(k);
                table.Add(new Entry(k, KeyHash.Of(k), Array.Empty<byte>()));
            }

            var seen = new HashSet<string>();
            var visited = new List<Entry>();
            var churn = new List<byte[]>();
            var churned = 0;
            ulong cursor = 0;
            var step = 0;
            do
            {
                visited.Clear();
                stepsMidResize += table.IsRehashing ? 1 : 0;
                cursor = table.ScanStep(cursor, visited);
                foreach (var e in visited)
                {
                    seen.Add(Encoding.ASCII.GetString(e.Key));
                }

                // Between steps, grow or shrink the table with unrelated keys: a few per step, so many steps
                // land in the middle of an incremental resize, and sometimes a burst that starts or ends one.
                if (step < ops.Length)
                {
                    var n = ops[step];
                    var count = Math.Abs(n) % 50 == 0 ? Math.Abs(n) : Math.Abs(n) % 8;
                    for (var j = 0; j < count; j++)
                    {
                        if (n > 0)
                        {
                            var k = Encoding.ASCII.GetBytes($"churn:{churned++}");
                            table.Add(new Entry(k, KeyHash.Of(k), Array.Empty<byte>()));
                            churn.Add(k);
                        }
                        else if (churn.Count > 0)
                        {
                            var k = churn[^1];
                            churn.RemoveAt(churn.Count - 1);
                            table.Remove(table.Find(k, KeyHash.Of(k))!);
                        }
                    }
                }

                step++;
            }
            while (cursor != 0 && step < 100_000);

            // The scan ended (a cursor that never came back to 0 would stop at the step bound) and saw every stable key.
            return cursor == 0 && stable.All(k => seen.Contains(Encoding.ASCII.GetString(k)));
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(200));

        // The churn must have caught scans in the middle of incremental resizes, or the property proved less than it says.
        Assert.True(stepsMidResize > 100, $"only {stepsMidResize} scan steps ran during a resize");
    }

    [Fact]
    public void Find_add_remove_agree_with_a_dictionary()
    {
        var table = new KeyTable();
        var model = new Dictionary<string, Entry>();
        var rng = new Random(7);
        for (var i = 0; i < 20_000; i++)
        {
            var key = $"k{rng.Next(2000)}";
            var bytes = Encoding.ASCII.GetBytes(key);
            var found = table.Find(bytes, KeyHash.Of(bytes));
            Assert.Equal(model.GetValueOrDefault(key), found);
            if (found is null)
            {
                var e = new Entry(bytes, KeyHash.Of(bytes), bytes);
                table.Add(e);
                model[key] = e;
            }
            else if (rng.Next(2) == 0)
            {
                Assert.True(table.Remove(found));
                model.Remove(key);
            }
        }

        Assert.Equal(model.Count, table.Count);
        var all = new List<string>();
        foreach (var e in table)
        {
            all.Add(Encoding.ASCII.GetString(e.Key));
        }

        Assert.Equal(model.Keys.Order(), all.Order());
    }

    [Fact]
    public void A_resize_moves_a_few_buckets_per_operation_and_ends_before_the_next_one_is_due()
    {
        var table = new KeyTable();
        var keys = Enumerable.Range(0, 300_000).Select(i => Encoding.ASCII.GetBytes($"key:{i}")).ToArray();
        var resizes = 0;
        var startedAt = 0;
        var oldBuckets = 0;
        for (var i = 0; i < keys.Length; i++)
        {
            var wasRehashing = table.IsRehashing;
            var capacity = table.Capacity;
            table.Add(new Entry(keys[i], KeyHash.Of(keys[i]), keys[i]));
            if (!wasRehashing && table.IsRehashing)
            {
                // A resize began on this insert: the bucket array doubled and most buckets are still to move.
                Assert.Equal(capacity * 2, table.Capacity);
                resizes++;
                startedAt = table.Count;
                oldBuckets = capacity; // Capacity now names the new array; the buckets to move are the old one's

            }

            if (table.IsRehashing)
            {
                // Each operation moves 4 buckets, so a table of n buckets is done after n / 4 more inserts,
                // long before it fills its new 2n buckets.
                Assert.True(table.Count - startedAt <= (oldBuckets / 4) + 1, $"resize from {startedAt} still under way at {table.Count}");
            }

            if (i % 9_973 == 0)
            {
                for (var j = 0; j <= i; j += 97)
                {
                    Assert.NotNull(table.Find(keys[j], KeyHash.Of(keys[j])));
                }
            }
        }

        // 16 buckets doubled 15 times, to 524,288, and each resize was still under way after the insert that began it.
        Assert.Equal(15, resizes);

        // Deleting shrinks the same way, and every remaining key stays reachable on the way down.
        for (var i = 0; i < keys.Length - 10; i++)
        {
            Assert.True(table.Remove(table.Find(keys[i], KeyHash.Of(keys[i]))!));
        }

        Assert.Equal(10, table.Count);
        for (var i = keys.Length - 10; i < keys.Length; i++)
        {
            Assert.NotNull(table.Find(keys[i], KeyHash.Of(keys[i])));
        }
    }

    [Fact]
    public void Lookups_enumeration_and_sampling_agree_with_a_model_in_the_middle_of_resizes()
    {
        var checksMidResize = 0;
        Prop.ForAll<int[]>(Arb.From(Gen.ArrayOf(Gen.Choose(-3000, 3000))), (Func<int[], bool>)(ops =>
        {
            var table = new KeyTable();
            var model = new Dictionary<string, Entry>();
            var rng = new Random(ops.Length);
            foreach (var op in ops)
            {
                // A positive op inserts a run of keys, a negative one deletes a run: big swings cross resize boundaries.
                for (var j = 0; j < Math.Abs(op) % 400; j++)
                {
                    var key = $"m{(Math.Abs(op) + j) % 3000}";
                    var bytes = Encoding.ASCII.GetBytes(key);
                    var found = table.Find(bytes, KeyHash.Of(bytes));
                    if (!ReferenceEquals(model.GetValueOrDefault(key), found))
                    {
                        return false;
                    }

                    if (op > 0 && found is null)
                    {
                        var e = new Entry(bytes, KeyHash.Of(bytes), bytes);
                        table.Add(e);
                        model[key] = e;
                    }
                    else if (op < 0 && found is not null)
                    {
                        table.Remove(found);
                        model.Remove(key);
                    }
                }

                checksMidResize += table.IsRehashing ? 1 : 0;
                var all = new List<Entry>();
                foreach (var e in table)
                {
                    all.Add(e);
                }

                if (table.Count != model.Count || all.Count != model.Count || !all.All(e => ReferenceEquals(model[Encoding.ASCII.GetString(e.Key)], e)))
                {
                    return false;
                }

                for (var k = 0; k < 20 && model.Count > 0; k++)
                {
                    var r = table.Random(rng)!;
                    if (!ReferenceEquals(model.GetValueOrDefault(Encoding.ASCII.GetString(r.Key)), r))
                    {
                        return false;
                    }
                }
            }

            return true;
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(300));

        Assert.True(checksMidResize > 100, $"only {checksMidResize} checks ran during a resize");
    }
}
