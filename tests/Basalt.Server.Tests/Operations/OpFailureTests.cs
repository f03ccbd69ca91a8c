using System.Globalization;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;

namespace Basalt.Server.Tests.Operations;

/// <summary>
/// A multi-key op whose code throws, on any shard or while replying, fails alone: its client gets an internal error,
/// its shards are released, and the keys it held serve the next command. Before, the exception was logged and dropped
/// on whichever loop ran that part, so the op never came home: its keys stayed held for good, and with them everything
/// queued behind them on that shard.
/// </summary>
public sealed class OpFailureTests
{
    private static readonly SlotMap Slots = new(2);

    [Theory]
    [InlineData("FAILRUN", false)]
    [InlineData("FAILRUN", true)]
    [InlineData("FAILREPLY", false)]
    [InlineData("FAILREPLY", true)]
    public async Task An_op_that_throws_is_answered_with_an_error_and_releases_its_keys(string command, bool singlePhase)
    {
        await using var server = await InProcessServer.StartAsync(t => AddFailingCommands(t, singlePhase));
        // A short read timeout: an op that never comes home fails the test rather than stalling it.
        using var client = new Basalt.Testing.RespConnection(server.Server.Port, timeoutMs: 5000);
        using var other = new Basalt.Testing.RespConnection(server.Server.Port, timeoutMs: 5000);
        var k0 = KeyOn(0);
        var k1 = KeyOn(1);
        Assert.Equal("OK", other.Call("MSET", k0, "a", k1, "b").Text);

        // Across both shards, and on each shard alone (one of them the connection's own, the other remote).
        foreach (var keys in new[] { new[] { k0, k1 }, [k0], [k1] })
        {
            var reply = client.Call([command, .. keys]);
            Assert.Equal("ERR internal error: test failure", reply.Text);
            Assert.Equal("PONG", client.Call("PING").Text);
            var values = other.Call("MGET", k0, k1).Items!;
            Assert.Equal(["a", "b"], values.Select(v => v.Text));
            Assert.Equal("OK", other.Call("SET", k0, "a").Text);
        }
    }

    private static void AddFailingCommands(CommandTable t, bool singlePhase)
    {
        foreach (var (name, inReply) in new[] { ("failrun", false), ("failreply", true) })
        {
            t.Add(new CommandSpec
            {
                Name = name,
                Arity = -2,
                Flags = CommandFlags.Write,
                FirstKey = 1,
                LastKey = -1,
                KeyStep = 1,
                Acl = AclCategories.Keyspace | AclCategories.Write,
                Kind = CommandKind.Multi,
                CreateOp = (in OpRequest r) => new FailingOp(r, singlePhase, inReply),
            });
        }
    }

    private static string KeyOn(int shard)
    {
        for (var i = 0; ; i++)
        {
            var key = "fail:" + i.ToString(CultureInfo.InvariantCulture);
            if (Slots.ShardOf(System.Text.Encoding.UTF8.GetBytes(key)) == shard)
            {
                return key;
            }
        }
    }

    /// <summary>Throws on its last shard's run (phase 1 when multi-phase), or while replying.</summary>
    private sealed class FailingOp : ShardOp
    {
        private readonly bool _singlePhase;
        private readonly bool _inReply;

        public FailingOp(in OpRequest r, bool singlePhase, bool inReply)
            : base(r)
        {
            _singlePhase = singlePhase;
            _inReply = inReply;
            RouteKeys(1, 1);
        }

        public override bool SinglePhase => _singlePhase;

        public override bool KeyScoped => true;

        public override void Run(ShardStore store, int phase)
        {
            var lastShard = Shards[^1] == store.ShardId;
            if (!_inReply && lastShard && (_singlePhase || phase == 1))
            {
                throw new InvalidOperationException("test failure");
            }
        }

        public override bool Continue(int phase) => !_singlePhase && phase == 0;

        public override void Reply(ReplyBuffer reply) =>
            _ = _inReply ? throw new InvalidOperationException("test failure") : 0;
    }
}
