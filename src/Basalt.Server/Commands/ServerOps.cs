using System.Globalization;
using System.Net;
using System.Text;
using Basalt.Engine;
using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using Basalt.Server.Shards;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Server.Commands;

/// <summary>CLIENT LIST/KILL's TYPE filter. Every Basalt client is "normal"; the other classes match nobody.</summary>
internal static class ClientTypes
{
    public static bool TryParse(ReadOnlySpan<byte> arg, out bool matchesNobody, out string? error)
    {
        arg = CString(arg);
        var type = Encoding.UTF8.GetString(arg).ToLowerInvariant();
        matchesNobody = type is "master" or "replica" or "slave" or "pubsub";
        error = matchesNobody || type == "normal" ? null : $"ERR Unknown client type '{Encoding.UTF8.GetString(arg)}'";
        return error is null;
    }
}

/// <summary>CLIENT LIST: each loop describes its own connections.</summary>
internal sealed class ClientListOp : LoopOp
{
    public override bool SinglePhase => true;

    private readonly List<(long Id, string Line)>[] _lines;
    private readonly List<long>? _ids;
    private readonly bool _none;

    /// <summary>As Redis 7.0 reads it: nothing, TYPE and one type (exactly), or ID and one or more ids; else a syntax error.</summary>
    public ClientListOp(in OpRequest r)
        : base(r)
    {
        _lines = new List<(long, string)>[Slots.ShardCount];
        if (Args.Count == 4 && Is(Args[2], "TYPE"u8))
        {
            if (!ClientTypes.TryParse(Args[3], out _none, out var error))
            {
                EarlyError = error;
                return;
            }
        }
        else if (Args.Count > 3 && Is(Args[2], "ID"u8))
        {
            _ids = [];
            for (var i = 3; i < Args.Count; i++)
            {
                if (!Numbers.TryParseLong(Args[i], out var id))
                {
                    EarlyError = "ERR Invalid client ID";
                    return;
                }

                _ids.Add(id);
            }
        }
        else if (Args.Count != 2)
        {
            EarlyError = "ERR syntax error";
            return;
        }

        RouteAll();
    }

    public override void RunOnLoop(ShardLoop loop, int phase)
    {
        var lines = new List<(long, string)>();
        foreach (var c in loop.Connections)
        {
            if (!_none && (_ids is null || _ids.Contains(c.Id)))
            {
                lines.Add((c.Id, ConnectionCommands.ClientLine(c, self: c.Id == Request.ClientId)));
            }
        }

        _lines[loop.Id] = lines;
    }

    public override void Reply(ReplyBuffer reply)
    {
        var sb = new StringBuilder();
        if (_ids is not null)
        {
            // As Redis: one line per id asked for, in the order asked, repeats included; ids of no client are skipped.
            var byId = new Dictionary<long, string>();
            foreach (var shard in _lines)
            {
                foreach (var (id, line) in shard)
                {
                    byId[id] = line;
                }
            }

            foreach (var id in _ids)
            {
                if (byId.TryGetValue(id, out var line))
                {
                    sb.Append(line).Append('\n');
                }
            }
        }
        else
        {
            foreach (var l in _lines.SelectMany(x => x).Select(x => x.Line).OrderBy(l => l, StringComparer.Ordinal))
            {
                sb.Append(l).Append('\n');
            }
        }

        reply.Verbatim(Encoding.UTF8.GetBytes(sb.ToString()));
    }
}

/// <summary>CLIENT KILL, in its old (addr) and filter forms.</summary>
internal sealed class ClientKillOp : LoopOp
{
    public override bool SinglePhase => true;

    private readonly bool _oldForm;
    private readonly string? _addr;
    private readonly string? _laddr;
    private readonly long _id;
    private readonly bool _skipMe = true;
    private readonly bool _none;
    private readonly int[] _killed;

    public ClientKillOp(in OpRequest r)
        : base(r)
    {
        _killed = new int[Slots.ShardCount];
        if (Args.Count == 3)
        {
            _oldForm = true;
            _skipMe = false;
            _addr = Encoding.UTF8.GetString(CString(Args[2])); // compared with strcmp, as the filters are
            RouteAll();
            return;
        }

        for (var i = 2; i < Args.Count; i += 2)
        {
            if (i + 1 >= Args.Count)
            {
                EarlyError = "ERR syntax error";
                return;
            }

            var value = Args[i + 1];
            if (Is(Args[i], "ID"u8))
            {
                if (!Numbers.TryParseLong(value, out _id) || _id <= 0)
                {
                    EarlyError = "ERR client-id should be greater than 0";
                    return;
                }
            }
            else if (Is(Args[i], "TYPE"u8))
            {
                if (!ClientTypes.TryParse(value, out _none, out var error))
                {
                    EarlyError = error;
                    return;
                }
            }
            else if (Is(Args[i], "USER"u8))
            {
                // The user is looked up by the whole name (only the error's text ends at a NUL, as Redis's %s does).
                if (!value.SequenceEqual("default"u8))
                {
                    EarlyError = $"ERR No such user '{Encoding.UTF8.GetString(CString(value))}'";
                    return;
                }
            }
            else if (Is(Args[i], "ADDR"u8))
            {
                _addr = Encoding.UTF8.GetString(CString(value));
            }
            else if (Is(Args[i], "LADDR"u8))
            {
                _laddr = Encoding.UTF8.GetString(CString(value));
            }
            else if (Is(Args[i], "SKIPME"u8))
            {
                if (Is(value, "YES"u8))
                {
                    _skipMe = true;
                }
                else if (Is(value, "NO"u8))
                {
                    _skipMe = false;
                }
                else
                {
                    EarlyError = "ERR syntax error";
                    return;
                }
            }
            else
            {
                EarlyError = "ERR syntax error";
                return;
            }
        }

        RouteAll();
    }

    public override void RunOnLoop(ShardLoop loop, int phase)
    {
        var victims = new List<Connection>();
        foreach (var c in loop.Connections)
        {
            if (_none || (_id != 0 && c.Id != _id) || (_addr is not null && _addr != Format(c.RemoteEndPoint))
                || (_laddr is not null && _laddr != Format(c.LocalEndPoint)) || (_skipMe && c.Id == Request.ClientId))
            {
                continue;
            }

            victims.Add(c);
        }

        foreach (var c in victims)
        {
            // The caller itself still gets its reply, then closes.
            if (c.Id == Request.ClientId)
            {
                c.CloseAfterReply();
            }
            else
            {
                c.Close("killed by CLIENT KILL");
            }
        }

        _killed[loop.Id] = victims.Count;
    }

    public override void Reply(ReplyBuffer reply)
    {
        var total = _killed.Sum();
        if (!_oldForm)
        {
            reply.Integer(total);
        }
        else if (total > 0)
        {
            reply.Ok();
        }
        else
        {
            reply.Error("ERR No such client");
        }
    }

    private static string Format(IPEndPoint? ep) => ep?.ToString() ?? string.Empty;
}

/// <summary>CONFIG RESETSTAT: every loop clears its counters.</summary>
internal sealed class ResetStatOp : LoopOp
{
    public override bool SinglePhase => true;

    public ResetStatOp(in OpRequest r)
        : base(r) => RouteAll();

    public override void RunOnLoop(ShardLoop loop, int phase)
    {
        loop.Stats.Reset();
        loop.Store.Stats.Reset();
        if (loop.Id == 0)
        {
            loop.Server.ResetStats();
        }
    }

    public override void Reply(ReplyBuffer reply) => reply.Ok();
}
