using System.Diagnostics;
using System.Globalization;
using System.Net.Sockets;
using Basalt.Engine;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// Multi-shard ops that read and write only their own keys hold just those keys on each shard, through
/// every phase: while one waits for its second shard, the first keeps serving other keys.
/// </summary>
public sealed class KeyHoldTests
{
    private static readonly SlotMap Slots = new(2);
    private static readonly SlotMap ThreeShards = new(3);

    [Fact]
    public void A_multi_phase_op_waiting_for_its_second_shard_holds_only_its_keys_on_the_first()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--enable-debug-command", "yes");

        var byLoop = ConnectionsByLoop(server, shards: 2, perLoop: 3);
        var conns = byLoop.SelectMany(l => l).ToList();
        try
        {
            var k0 = KeyOn(0, "src");
            var k1 = KeyOn(1, "dst");
            var other = KeyOn(0, "other");
            var sleeper = byLoop[1][0];
            var (holder, bystander, mover) = (byLoop[0][0], byLoop[0][1], byLoop[0][2]);
            holder.Call("SET", other, "free");
            mover.Call("SELECT", "1");

            foreach (var op in new[] { "RENAME", "MSETNX", "COPY" })
            {
                holder.Call("DEL", k0, k1);
                mover.Call("DEL", k0);
                holder.Call("SET", k0, "v");
                mover.Call("SET", k0, "db1");
                string[] command = op switch
                {
                    "RENAME" => ["RENAME", k0, k1],
                    "MSETNX" => ["MSETNX", k0, "x", k1, "y"],
                    _ => ["COPY", k0, k1],
                };

                // Shard 1's loop sleeps; the op takes its key on shard 0, then waits for shard 1.
                sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "2.5"));
                Thread.Sleep(100);
                holder.SendRaw(RespConnection.Encode(command));
                Thread.Sleep(200);

                // Another key on shard 0 is served at once, while the op is still waiting.
                var watch = Stopwatch.StartNew();
                Assert.Equal("free", bystander.Call("GET", other).Text);
                Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1.5), $"{op}: GET of another key on the held shard took {watch.Elapsed}");
                Assert.Equal(0, holder.Socket.Available);

                // MOVE writes its key in another database, which key holds don't name: it waits for every key hold.
                mover.SendRaw(RespConnection.Encode("MOVE", k0, "0"));
                Thread.Sleep(200);
                Assert.Equal(0, mover.Socket.Available);

                // The op's own key on shard 0 waits for the op: shard 0's loop is awake, so only the hold can delay it
                // (MOVE, queued there first, does not run before the op either).
                bystander.SendRaw(RespConnection.Encode("GET", k0));
                Thread.Sleep(200);
                Assert.Equal(0, bystander.Socket.Available);

                Assert.Equal("OK", sleeper.Read().Text);
                var reply = holder.Read();
                var source = bystander.Read();
                var destination = bystander.Call("EXISTS", k1).Integer;
                var moved = mover.Read().Integer;
                switch (op)
                {
                    case "RENAME":
                        // k0 went to k1; MOVE, queued ahead of the GET, then brought database 1's k0 over.
                        Assert.Equal("OK", reply.Text);
                        Assert.Equal("db1", source.Text);
                        Assert.Equal(1, destination);
                        Assert.Equal(1, moved);
                        break;
                    case "MSETNX":
                        Assert.Equal(0, reply.Integer);
                        Assert.Equal("v", source.Text);
                        Assert.Equal(0, destination);
                        Assert.Equal(0, moved);
                        break;
                    default:
                        Assert.Equal(1, reply.Integer);
                        Assert.Equal("v", source.Text);
                        Assert.Equal(1, destination);
                        Assert.Equal(0, moved);
                        break;
                }
            }
        }
        finally
        {
            conns.ForEach(c => c.Dispose());
        }
    }

    /// <summary>A SCAN answered from its cursor's shard holds that shard only: it never waits to take the shards after it.</summary>
    [Fact]
    public void A_scan_answered_from_its_cursor_s_shard_does_not_take_the_shards_after_it()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--enable-debug-command", "yes");
        var byLoop = ConnectionsByLoop(server, shards: 2, perLoop: 1);
        var (scanner, sleeper) = (byLoop[0][0], byLoop[1][0]);
        try
        {
            var keys = Enumerable.Range(0, 100).Select(i => KeyOn(0, "scan" + i.ToString(CultureInfo.InvariantCulture))).Distinct().ToList();
            Assert.Equal("OK", scanner.Call(keys.SelectMany(k => new[] { k, "v" }).Prepend("MSET").ToArray()).Text);
            Assert.Equal("OK", sleeper.Call("SET", KeyOn(1, "far"), "v").Text);

            // Shard 1's loop sleeps. A SCAN from cursor 0 finds its COUNT in shard 0 and stops there: it answers at
            // once, with a cursor still in shard 0 (low bit 0), instead of waiting to take shard 1 as well.
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "2.5"));
            Thread.Sleep(100);
            var watch = Stopwatch.StartNew();
            var reply = scanner.Call("SCAN", "0", "COUNT", "10");
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1.5), $"SCAN took {watch.Elapsed}");
            var cursor = ulong.Parse(reply.Items![0].Text!, CultureInfo.InvariantCulture);
            Assert.NotEqual(0UL, cursor);
            Assert.Equal(0UL, cursor & 1);
            Assert.All(reply.Items[1].Items!, k => Assert.Contains(k.Text, keys));

            // A SCAN that reaches the end of shard 0 goes on into shard 1, and so waits for it.
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "0"));
            Assert.Equal("OK", sleeper.Read().Text);
            Assert.Equal("OK", sleeper.Read().Text);
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "1"));
            Thread.Sleep(100);
            watch.Restart();
            var all = scanner.Call("SCAN", "0", "COUNT", "1000");
            Assert.True(watch.Elapsed > TimeSpan.FromSeconds(0.5), $"SCAN over both shards took only {watch.Elapsed}");
            Assert.Equal("0", all.Items![0].Text);
            Assert.Equal(keys.Count + 1, all.Items[1].Items!.Count);
            Assert.Equal("OK", sleeper.Read().Text);
        }
        finally
        {
            scanner.Dispose();
            sleeper.Dispose();
        }
    }

    [Fact]
    public void An_op_that_finishes_inline_during_its_own_phase_does_not_hand_that_phase_to_the_next_op()
    {
        // A connection on loop 1 pipelines MSET over all shards, an MSETNX with 2,000 keys on shard 1 and one on shard 0,
        // and DEL of the MSET's keys, while another connection keeps loop 0 awake. MSETNX's phase step for shard 1 is sent
        // last and runs inline; when shard 0 has already finished, the op finishes inside the loop that sent its phase,
        // and the connection starts the DEL there. A coordinator reused at that point had the loop send MSETNX's phase
        // to the DEL's steps: the DEL ran unheld on shard 2 and ran again, and answered a count short of 1,000.
        using var server = ServerProcess.StartBasalt("--shards", "3");
        var byLoop = ConnectionsByLoop(server, shards: 3, perLoop: 1);
        var (busy, tester) = (byLoop[0][0], byLoop[1][0]);
        var stop = false;
        var background = new Thread(() =>
        {
            var gets = Enumerable.Range(0, 30).Select(i => RespConnection.Encode("GET", KeyOn(ThreeShards, 0, "bg" + i.ToString(CultureInfo.InvariantCulture)))).SelectMany(b => b).ToArray();
            while (!Volatile.Read(ref stop))
            {
                busy.SendRaw(gets);
                for (var i = 0; i < 30; i++)
                {
                    busy.Read();
                }
            }
        });
        try
        {
            background.Start();
            var dk = Enumerable.Range(0, 1000).Select(i => "dk:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
            Assert.Equal(3, dk.Select(k => ThreeShards.ShardOf(System.Text.Encoding.UTF8.GetBytes(k))).Distinct().Count());
            var onOne = new List<string>();
            for (var i = 0; onOne.Count < 2000; i++)
            {
                var k = "nx:" + i.ToString(CultureInfo.InvariantCulture);
                if (ThreeShards.ShardOf(System.Text.Encoding.UTF8.GetBytes(k)) == 1)
                {
                    onOne.Add(k);
                }
            }

            var msetnx = onOne.Append(KeyOn(ThreeShards, 0, "nx0")).SelectMany(k => new[] { k, "b" }).Prepend("MSETNX").ToArray();
            var round = new MemoryStream();
            for (var rep = 0; rep < 3; rep++)
            {
                round.Write(RespConnection.Encode(dk.SelectMany(k => new[] { k, "v" }).Prepend("MSET").ToArray()));
                round.Write(RespConnection.Encode(msetnx));
                round.Write(RespConnection.Encode(dk.Prepend("DEL").ToArray()));
            }

            var request = round.ToArray();
            var shortDeletes = 0;
            for (var p = 0; p < 150; p++)
            {
                tester.SendRaw(request);
                for (var rep = 0; rep < 3; rep++)
                {
                    Assert.Equal("OK", tester.Read().Text);
                    Assert.True(tester.Read().Integer is 0 or 1);
                    if (tester.Read().Integer != dk.Length)
                    {
                        shortDeletes++;
                    }
                }
            }

            Assert.Equal(0, shortDeletes);
        }
        finally
        {
            Volatile.Write(ref stop, true);
            background.Join();
            busy.Dispose();
            tester.Dispose();
            byLoop[2][0].Dispose();
        }
    }

    /// <summary>
    /// A release is posted to its shard without a wake unless work there waits behind a hold (ShardLoop.PostRelease).
    /// Here a GET waits on shard 0 behind an MSET's hold, and shard 0 has nothing else to wake it (no socket traffic,
    /// no expiry timer): the release must wake it, or the GET is never answered.
    /// </summary>
    [Fact]
    public void A_release_wakes_the_shard_where_work_waits_behind_the_hold()
    {
        using var server = ServerProcess.StartBasalt("--shards", "3", "--enable-debug-command", "yes");

        var conns = ConnectionPerLoop(server);
        try
        {
            var (bystander, home, sleeper) = (conns[0], conns[1], conns[2]);
            var k0 = KeyOn(ThreeShards, 0, "held");
            var k2 = KeyOn(ThreeShards, 2, "late");
            Assert.Equal("OK", bystander.Call("SET", k0, "old").Text);

            // Shard 2 sleeps. The MSET, coordinated from shard 1, holds k0 on shard 0 (shards are taken in ascending
            // order) and waits for shard 2. A GET of k0 then queues behind the hold, and shard 0 parks.
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "1.5"));
            Thread.Sleep(100);
            home.SendRaw(RespConnection.Encode("MSET", k0, "new", k2, "new"));
            Thread.Sleep(200);
            bystander.SendRaw(RespConnection.Encode("GET", k0));
            Thread.Sleep(300);
            Assert.Equal(0, bystander.Socket.Available);

            Assert.Equal("OK", sleeper.Read().Text);
            Assert.Equal("OK", home.Read().Text);
            Assert.True(bystander.Socket.Poll(TimeSpan.FromSeconds(5), SelectMode.SelectRead), "the GET waiting behind the released hold was never answered");
            Assert.Equal("new", bystander.Read().Text);
        }
        finally
        {
            conns.ForEach(c => c.Dispose());
        }
    }

    /// <summary>
    /// A pass's replies wait for its groups so that they leave in one send, but only its own: when a later pass of
    /// the pipeline waits behind a hold, the replies of the passes before it are sent without waiting for it.
    /// </summary>
    [Fact]
    public void Replies_already_complete_are_sent_while_a_later_command_of_the_pipeline_waits_behind_a_hold()
    {
        using var server = ServerProcess.StartBasalt("--shards", "3", "--enable-debug-command", "yes");
        var conns = ConnectionPerLoop(server);
        try
        {
            var (client, holder, sleeper) = (conns[0], conns[1], conns[2]);
            var held = KeyOn(ThreeShards, 1, "held");
            var late = KeyOn(ThreeShards, 2, "late");

            // Shard 2 sleeps; the MSET, coordinated from shard 1, holds its key there and waits for shard 2.
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "2.5"));
            Thread.Sleep(100);
            holder.SendRaw(RespConnection.Encode("MSET", held, "1", late, "1"));
            Thread.Sleep(200);

            // Sixteen GETs for shard 1 (free keys), a PING (a barrier, so the next command starts a new pass), then
            // the held key. The first seventeen replies are complete long before the hold ends.
            var pipeline = new List<byte>();
            for (var i = 0; i < 16; i++)
            {
                pipeline.AddRange(RespConnection.Encode("GET", KeyOn(ThreeShards, 1, "free" + i.ToString(CultureInfo.InvariantCulture))));
            }

            pipeline.AddRange(RespConnection.Encode("PING"));
            pipeline.AddRange(RespConnection.Encode("GET", held));
            var watch = Stopwatch.StartNew();
            client.SendRaw(pipeline.ToArray());
            for (var i = 0; i < 16; i++)
            {
                Assert.True(client.Read().IsNull);
            }

            Assert.Equal("PONG", client.Read().Text);
            Assert.True(watch.Elapsed < TimeSpan.FromSeconds(1), $"replies complete before the held GET took {watch.Elapsed}");
            Thread.Sleep(100);
            Assert.Equal(0, client.Socket.Available);

            Assert.Equal("OK", sleeper.Read().Text);
            Assert.Equal("OK", holder.Read().Text);
            Assert.Equal("1", client.Read().Text);
        }
        finally
        {
            conns.ForEach(c => c.Dispose());
        }
    }

    /// <summary>
    /// Active expiry waits while the shard holds keys for a multi-shard op. The loop must then park until the hold is
    /// released, not turn without sleeping because the expiry it may not run is due: that burned a core for as long as
    /// a hold lasted.
    /// </summary>
    [Fact]
    public void A_held_shard_with_keys_to_expire_parks_until_the_hold_ends()
    {
        using var server = ServerProcess.StartBasalt("--shards", "2", "--enable-debug-command", "yes");
        var byLoop = ConnectionsByLoop(server, shards: 2, perLoop: 1);
        try
        {
            var (holder, sleeper) = (byLoop[0][0], byLoop[1][0]);
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal("OK", holder.Call("SET", KeyOn(0, "ttl" + i.ToString(CultureInfo.InvariantCulture)), "v", "EX", "1000").Text);
            }

            // Shard 1's loop sleeps; the MSET takes its key on shard 0 and waits there for shard 1 for about 2 s.
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "2.5"));
            Thread.Sleep(100);
            holder.SendRaw(RespConnection.Encode("MSET", KeyOn(0, "held"), "1", KeyOn(1, "late"), "1"));
            Thread.Sleep(300);
            var before = server.CpuTicks();
            Thread.Sleep(1500);
            var used = server.CpuTicks() - before;
            Assert.Equal(0, holder.Socket.Available);

            Assert.Equal("OK", sleeper.Read().Text);
            Assert.Equal("OK", holder.Read().Text);
            Assert.True(used < 40, $"the server used {used} clock ticks of CPU in 1.5 s while one loop slept and the other waited on a hold");
        }
        finally
        {
            byLoop.SelectMany(l => l).ToList().ForEach(c => c.Dispose());
        }
    }

    /// <summary>
    /// Keys of a shard that holds others for a multi-shard op still expire actively: expiry passes over the held keys
    /// only. It used to wait for every hold to end, so an unbroken run of cross-shard ops kept the whole shard's
    /// expired keys in memory. Read white-box: the shard's count of keys with a TTL, an int read from the test thread.
    /// </summary>
    [Fact]
    public async Task Keys_expire_actively_while_other_keys_of_their_shard_are_held()
    {
        await using var s = await Operations.InProcessServer.StartAsync("--enable-debug-command", "yes");
        var conns = new List<RespConnection>();
        try
        {
            RespConnection? holder = null, sleeper = null;
            while (holder is null || sleeper is null)
            {
                var c = s.Connect();
                conns.Add(c);
                if ((c.Call("CLIENT", "ID").Integer - 1) % 2 == 0)
                {
                    holder ??= c;
                }
                else
                {
                    sleeper ??= c;
                }
            }

            for (var i = 0; i < 200; i++)
            {
                Assert.Equal("OK", holder.Call("SET", KeyOn(0, "short" + i.ToString(CultureInfo.InvariantCulture)), "v", "PX", "200").Text);
            }

            var shard0 = s.Server.Loops[0].Store.Dbs[0];
            Assert.Equal(200, shard0.VolatileCount);

            // Loop 1 sleeps; the MSET takes its key on shard 0 and waits there for shard 1 until the sleep ends.
            sleeper.SendRaw(RespConnection.Encode("DEBUG", "SLEEP", "3"));
            await s.WaitUntilALoopIsBusyAsync();
            holder.SendRaw(RespConnection.Encode("MSET", KeyOn(0, "held"), "1", KeyOn(1, "late"), "1"));

            var deadline = DateTime.UtcNow.AddSeconds(2);
            while (shard0.VolatileCount > 0)
            {
                Assert.True(DateTime.UtcNow < deadline, $"{shard0.VolatileCount} expired keys were left while the shard held another key");
                await Task.Delay(20);
            }

            // Still inside the hold: the MSET has not been answered.
            Assert.Equal(0, holder.Socket.Available);
            Assert.Equal("OK", sleeper.Read().Text);
            Assert.Equal("OK", holder.Read().Text);
        }
        finally
        {
            conns.ForEach(c => c.Dispose());
        }
    }

    /// <summary>Three connections to a 3-shard server, the one at index i served by loop i.</summary>
    private static List<RespConnection> ConnectionPerLoop(ServerProcess server) =>
        [.. ConnectionsByLoop(server, shards: 3, perLoop: 1).Select(l => l[0])];

    /// <summary>
    /// <paramref name="perLoop"/> connections on each loop. The accept thread numbers connections and hands them to the
    /// loops in turn, both counting from the first (BasaltServer.Admit), so client id n is served by loop (n - 1) mod
    /// shards.
    /// </summary>
    private static List<RespConnection>[] ConnectionsByLoop(ServerProcess server, int shards, int perLoop)
    {
        var byLoop = Enumerable.Range(0, shards).Select(_ => new List<RespConnection>()).ToArray();
        try
        {
            for (var i = 0; i < shards * perLoop; i++)
            {
                var conn = server.Connect();
                var id = conn.Call("CLIENT", "ID").Integer;
                byLoop[(int)((id - 1) % shards)].Add(conn);
            }

            Assert.All(byLoop, l => Assert.Equal(perLoop, l.Count));
            return byLoop;
        }
        catch
        {
            foreach (var c in byLoop.SelectMany(l => l))
            {
                c.Dispose();
            }

            throw;
        }
    }

    private static string KeyOn(int shard, string prefix) => KeyOn(Slots, shard, prefix);

    private static string KeyOn(SlotMap slots, int shard, string prefix)
    {
        for (var i = 0; ; i++)
        {
            var key = prefix + ":" + i.ToString(CultureInfo.InvariantCulture);
            if (slots.ShardOf(System.Text.Encoding.UTF8.GetBytes(key)) == shard)
            {
                return key;
            }
        }
    }
}
