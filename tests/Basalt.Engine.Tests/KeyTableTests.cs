using System.Text;
using Basalt.Engine.Keyspace;
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
        var prefetch = default(LookupPrefetch);
        var before = GC.GetAllocatedBytesForCurrentThread();
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

        // Then nothing was allocated and every lookup answers as before
        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        for (var i = 0; i < keys.Length; i++)
        {
            Assert.Equal(i < 200, table.Find(keys[i], KeyHash.Of(keys[i])) is not null);
        }
    }

    [Fact]
    public void Scan_visits_every_key_present_for_the_whole_scan_even_across_resizes()
    {
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
            ulong cursor = 0;
            var step = 0;
            do
            {
                visited.Clear();
                cursor = table.ScanStep(cursor, visited);
                foreach (var e in visited)
                {
                    seen.Add(Encoding.ASCII.GetString(e.Key));
                }

                // Between steps, grow or shrink the table with unrelated keys.
                if (step < ops.Length)
                {
                    var n = ops[step];
                    for (var j = 0; j < Math.Abs(n); j++)
                    {
                        var k = Encoding.ASCII.GetBytes($"churn:{j}");
                        var found = table.Find(k, KeyHash.Of(k));
                        if (n > 0 && found is null)
                        {
                            table.Add(new Entry(k, KeyHash.Of(k), Array.Empty<byte>()));
                        }
                        else if (n < 0 && found is not null)
                        {
                            table.Remove(found);
                        }
                    }
                }

                step++;
            }
            while (cursor != 0 && step < 100_000);

            return stable.All(k => seen.Contains(Encoding.ASCII.GetString(k)));
        })).Check(Config.QuickThrowOnFailure.WithMaxTest(200));
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
}
