using System.Globalization;
using Basalt.Engine;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Server.Tests;

/// <summary>
/// A lone request for the other shard hands the connection's write turn to that shard, which sends the
/// reply itself and returns the group without a wake. These exercise the edges of that path: a client
/// that speaks again before the group is back, many clients at once, and a close while it is out.
/// </summary>
[Collection("basalt")]
public sealed class HandoffTests(BasaltFixture fixture)
{
    [Fact]
    public void Unpipelined_requests_for_both_shards_get_their_own_replies_from_many_clients()
    {
        var clients = Enumerable.Range(0, 16).Select(_ => fixture.Connect()).ToArray();
        try
        {
            Parallel.For(0, clients.Length, ci =>
            {
                var c = clients[ci];
                for (var i = 0; i < 400; i++)
                {
                    var key = $"handoff:{ci}:{i}";
                    Assert.Equal("OK", c.Call("SET", key, $"v{ci}.{i}").Text);
                    Assert.Equal($"v{ci}.{i}", c.Call("GET", key).Text);
                    Assert.Equal(i + 1, c.Call("INCR", $"handoff:n:{ci}").Integer);
                }
            });
        }
        finally
        {
            foreach (var c in clients)
            {
                c.Dispose();
            }
        }
    }

    [Fact]
    public void A_request_sent_before_the_previous_reply_is_read_is_answered_in_order()
    {
        using var c = fixture.Connect();
        var other = KeysOnEveryShard("early");
        for (var i = 0; i < 2000; i++)
        {
            // The second request often arrives while the first one's group is still out on the other shard.
            var key = other[i % other.Length];
            c.SendRaw(RespConnection.Encode("SET", key, i.ToString(CultureInfo.InvariantCulture)));
            c.SendRaw(RespConnection.Encode("GET", key));
            Assert.Equal("OK", c.Read().Text);
            Assert.Equal(i.ToString(CultureInfo.InvariantCulture), c.Read().Text);
        }
    }

    [Fact]
    public void A_client_killed_while_its_request_is_on_another_shard_is_closed_and_others_are_served()
    {
        var keys = KeysOnEveryShard("kill");
        for (var round = 0; round < 50; round++)
        {
            using var victim = fixture.Connect();
            var id = victim.Call("CLIENT", "ID").Integer;
            using var admin = fixture.Connect();

            // The victim's request may be out on another shard when the kill arrives; either way it ends closed.
            // The kill may also be handled before the victim's loop has read the SET at all (its inbox is
            // drained before its sockets), as in Redis: then the SET never runs. Either outcome is right; a
            // reply to the other client is what must not be missing.
            var key = "{" + keys[round % keys.Length] + "}:" + round.ToString(CultureInfo.InvariantCulture);
            victim.SendRaw(RespConnection.Encode("SET", key, "x"));
            Assert.Equal(1, admin.Call("CLIENT", "KILL", "ID", id.ToString(CultureInfo.InvariantCulture)).Integer);
            Assert.True(DrainsToClose(victim), "the killed client was not closed");
            var value = admin.Call("GET", key);
            Assert.True(value.IsNull || value.Text == "x", $"GET {key} after the kill: {value}");
        }
    }

    /// <summary>One key per shard of the fixture's server, so every connection has keys on another shard.</summary>
    private string[] KeysOnEveryShard(string prefix)
    {
        var slots = new SlotMap(fixture.Shards);
        var keys = new string[fixture.Shards];
        var found = 0;
        for (var i = 0; found < keys.Length; i++)
        {
            var key = $"{prefix}:{i}";
            var shard = slots.ShardOf(System.Text.Encoding.ASCII.GetBytes(key));
            if (keys[shard] is null)
            {
                keys[shard] = key;
                found++;
            }
        }

        return keys;
    }

    /// <summary>Reads whatever reply got out before the kill, then requires the close.</summary>
    private static bool DrainsToClose(RespConnection c)
    {
        try
        {
            var first = c.Read();
            Assert.Equal(RespType.SimpleString, first.Type);
        }
        catch (EndOfStreamException)
        {
            return true;
        }
        catch (IOException ex) when (ex.InnerException is System.Net.Sockets.SocketException { SocketErrorCode: System.Net.Sockets.SocketError.ConnectionReset })
        {
            return true;
        }

        return c.IsClosedByServer();
    }
}
