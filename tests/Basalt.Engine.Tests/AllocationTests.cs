using System.Text;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Engine.Tests;

/// <summary>
/// Invariant 7: the hot paths allocate nothing. Counted with the runtime's per-thread allocation counter, independent
/// of timing: the fewest bytes of a few rounds of 10,000 passes (<see cref="Allocations"/>).
/// </summary>
public sealed class AllocationTests
{
    [Fact]
    public void Parsing_a_pipelined_request_allocates_nothing()
    {
        var frame = Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$8\r\nkey:1234\r\n$3\r\nxyz\r\n");
        var parser = new RequestParser(ProtocolLimits.Default);
        var args = new ArgList();
        Assert.Equal(0, Allocations.FewestPerRound(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                Parse(parser, frame, args);
            }
        }));
    }

    [Fact]
    public void Get_and_same_size_set_overwrite_allocate_nothing()
    {
        var table = new CommandTable();
        StringCommands.Register(table);
        var store = new ShardStore(0);
        using var reply = new ReplyBuffer(1 << 20);
        var get = Command("GET", "key:1");
        var set = Command("SET", "key:1", "abc");
        var getSpec = table.Find("get")!;
        var setSpec = table.Find("set")!;
        Assert.Equal(0, Allocations.FewestPerRound(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                Run(setSpec, set, store, reply);
                Run(getSpec, get, store, reply);
                reply.Clear();
            }
        }));
        Assert.Equal("abc"u8, store.Dbs[0].Find("key:1"u8, 1)!.StringBytes);
    }

    [Fact]
    public void Command_lookup_by_name_bytes_allocates_nothing()
    {
        var table = new CommandTable();
        StringCommands.Register(table);
        var name = "gEt"u8.ToArray();
        Assert.NotNull(table.Find(name));
        Assert.Equal(0, Allocations.FewestPerRound(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                _ = table.Find(name);
            }
        }));
    }

    [Fact]
    public void Prefetching_a_multi_key_ops_keys_allocates_nothing()
    {
        var table = new CommandTable();
        StringCommands.Register(table);
        var store = new ShardStore(0);
        var parts = new List<string> { "MSET" };
        for (var i = 0; i < 40; i++)
        {
            parts.Add("key:" + i.ToString(System.Globalization.CultureInfo.InvariantCulture));
            parts.Add("v");
        }

        var spec = table.Find("mset")!;
        var op = spec.CreateOp!(new OpRequest { Args = Command([.. parts]), Slots = new SlotMap(1), Spec = spec, DatabaseCount = 16, NowMs = 1 });
        op.Run(store, 0);
        Assert.Equal(0, Allocations.FewestPerRound(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                op.PrefetchKeys(store);
            }
        }));
        Assert.Equal(40, store.Dbs[0].Count);
    }

    [Fact]
    public void The_count_sees_a_body_that_allocates_on_every_pass()
    {
        var sink = new object[1];
        var allocated = Allocations.FewestPerRound(() =>
        {
            for (var i = 0; i < 10_000; i++)
            {
                sink[0] = new byte[8];
            }
        });

        // 10,000 arrays of 8 bytes, each with its object header and length: at least 24 bytes apiece.
        Assert.True(allocated >= 10_000 * 24, $"allocated {allocated} bytes");
    }

    private static void Parse(RequestParser parser, byte[] frame, ArgList args)
    {
        parser.Reset();
        args.Clear();

        // Not Assert.Equal: the assertion library allocates, and this loop measures allocations.
        if (parser.Next(frame, frame.Length, args) != ParseStatus.Command || args.Count != 3)
        {
            throw new InvalidOperationException("frame did not parse");
        }
    }

    private static void Run(CommandSpec spec, ArgView args, ShardStore store, ReplyBuffer reply)
    {
        var ctx = new CommandContext { Args = args, Reply = reply, Store = store, Db = store.Dbs[0], NowMs = 1, Spec = spec };
        spec.Keyed!(ref ctx);
    }

    private static ArgView Command(params string[] parts)
    {
        var list = new ArgList();
        var buffer = new List<byte>();
        foreach (var p in parts)
        {
            list.Add(buffer.Count, p.Length);
            buffer.AddRange(Encoding.ASCII.GetBytes(p));
        }

        return new ArgView(buffer.ToArray(), list, 0, parts.Length);
    }
}
