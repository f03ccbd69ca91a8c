using System.Text;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Protocol;

namespace Basalt.Engine.Tests;

/// <summary>Records every effect the engine emits, for assertions.</summary>
public sealed class RecordingSink : IEffectSink
{
    public List<(EffectKind Kind, int Db, string Key, string Value, long ExpireAt)> Effects { get; } = [];

    public void Emit(EffectKind kind, int db, ReadOnlySpan<byte> key, ReadOnlySpan<byte> value, long expireAtMs) =>
        Effects.Add((kind, db, Encoding.UTF8.GetString(key), Encoding.UTF8.GetString(value), expireAtMs));
}

/// <summary>Runs keyed commands and single-shard ops directly against one store, without a server.</summary>
public sealed class EngineHarness
{
    private readonly CommandTable _table = new();

    public EngineHarness()
    {
        StringCommands.Register(_table);
        KeyCommands.Register(_table);
        KeyspaceOps.Register(_table);
        Store = new ShardStore(0, 16, Sink);
    }

    public RecordingSink Sink { get; } = new();

    public ShardStore Store { get; }

    public long NowMs { get; set; } = 1_700_000_000_000;

    /// <summary>The selected database, as SELECT would set it.</summary>
    public int Db { get; set; }

    /// <summary>A request's arguments as the parser leaves them: one buffer, and each argument's place in it.</summary>
    public static ArgView ArgsOf(params string[] args)
    {
        var bytes = args.Select(Encoding.UTF8.GetBytes).ToArray();
        var buffer = bytes.SelectMany(b => b).ToArray();
        var list = new ArgList();
        var offset = 0;
        foreach (var b in bytes)
        {
            list.Add(offset, b.Length);
            offset += b.Length;
        }

        return new ArgView(buffer, list, 0, bytes.Length);
    }

    public RespValue Run(params string[] args)
    {
        var view = ArgsOf(args);
        var bytes = args.Select(Encoding.UTF8.GetBytes).ToArray();
        var spec = _table.Find(bytes[0])!;
        if (spec.Subcommands is not null)
        {
            spec = CommandTable.FindSub(spec, bytes[1])!;
        }

        using var reply = new ReplyBuffer();
        if (spec.Kind == CommandKind.Keyed)
        {
            var ctx = new CommandContext { Args = view, Reply = reply, Store = Store, Db = Store.Dbs[Db], NowMs = NowMs, Spec = spec };
            spec.Keyed!(ref ctx);
        }
        else
        {
            var op = spec.CreateOp!(new OpRequest { Args = view, Db = Db, Slots = new SlotMap(1), NowMs = NowMs, DatabaseCount = 16, Spec = spec });
            if (op.EarlyError is { } e)
            {
                reply.Error(e);
            }
            else
            {
                for (var phase = 0; ; phase++)
                {
                    op.Run(Store, phase);
                    if (!op.Continue(phase))
                    {
                        break;
                    }
                }

                op.Reply(reply);
            }
        }

        Assert.True(RespValueReader.TryRead(reply.WrittenSpan, out var value, out _));
        return value!;
    }
}
