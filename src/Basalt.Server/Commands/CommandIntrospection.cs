using System.Text;
using Basalt.Engine.Commands;
using Basalt.Protocol;
using Basalt.Server.Shards;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Server.Commands;

/// <summary>COMMAND, COMMAND COUNT|LIST|INFO|DOCS|GETKEYS|GETKEYSANDFLAGS: all read the declarative table.</summary>
internal static class CommandIntrospection
{
    private static readonly (CommandFlags Flag, string Name)[] FlagNames =
    [
        (CommandFlags.Write, "write"), (CommandFlags.ReadOnly, "readonly"), (CommandFlags.DenyOom, "denyoom"),
        (CommandFlags.Admin, "admin"), (CommandFlags.NoScript, "noscript"), (CommandFlags.Loading, "loading"),
        (CommandFlags.Stale, "stale"), (CommandFlags.SkipMonitor, "skip_monitor"), (CommandFlags.SkipSlowlog, "skip_slowlog"),
        (CommandFlags.Fast, "fast"), (CommandFlags.NoAuth, "no_auth"), (CommandFlags.NoMulti, "no_multi"),
        (CommandFlags.AllowBusy, "allow_busy"),
    ];

    private static readonly (AclCategories Cat, string Name)[] AclNames =
    [
        (AclCategories.Keyspace, "@keyspace"), (AclCategories.Read, "@read"), (AclCategories.Write, "@write"),
        (AclCategories.String, "@string"), (AclCategories.Admin, "@admin"), (AclCategories.Fast, "@fast"),
        (AclCategories.Slow, "@slow"), (AclCategories.Dangerous, "@dangerous"), (AclCategories.Connection, "@connection"),
    ];

    public static void Register(Router r)
    {
        r.Handle("command", static (c, _, _) => InfoList(c, null));
        r.Handle("command|count", static (c, _, _) => c.Output.Integer(c.Loop.Server.Commands.Commands.Count));
        r.Handle("command|list", List);
        r.Handle("command|info", static (c, a, _) => InfoList(c, a.Count > 2 ? a.Slice(2) : null));
        r.Handle("command|docs", Docs);
        r.Handle("command|getkeys", static (c, a, _) => GetKeys(c, a, withFlags: false));
        r.Handle("command|getkeysandflags", static (c, a, _) => GetKeys(c, a, withFlags: true));
        r.Handle("command|help", static (c, _, _) =>
        {
            c.Output.ArrayHeader(8);
            foreach (var line in new[] { "COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:", "COUNT", "DOCS [<command-name> ...]", "GETKEYS <full-command>", "GETKEYSANDFLAGS <full-command>", "INFO [<command-name> ...]", "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]", "HELP" })
            {
                c.Output.SimpleString(line);
            }
        });
    }

    private static void InfoList(Connection c, ArgView? names)
    {
        var table = c.Loop.Server.Commands;
        if (names is null)
        {
            c.Output.ArrayHeader(table.Commands.Count);
            foreach (var spec in table.Commands)
            {
                WriteInfo(c.Output, spec);
            }

            return;
        }

        var n = names.Value;
        c.Output.ArrayHeader(n.Count);
        for (var i = 0; i < n.Count; i++)
        {
            var spec = FindByFullName(c, n[i]);
            if (spec is null)
            {
                // Redis 7.0 puts a null bulk (not a null array) in an unknown name's slot.
                c.Output.NullBulk();
            }
            else
            {
                WriteInfo(c.Output, spec);
            }
        }
    }

    private static CommandSpec? FindByFullName(Connection c, ReadOnlySpan<byte> name)
    {
        var text = Encoding.UTF8.GetString(name).ToLowerInvariant();
        return c.Loop.Server.Router.FindFull(text);
    }

    /// <summary>COMMAND INFO's 10-element entry. Key specs come from <see cref="KeySpecs"/>, without Redis's notes.</summary>
    private static void WriteInfo(ReplyBuffer o, CommandSpec spec)
    {
        o.ArrayHeader(10);
        o.Bulk(spec.FullName);
        o.Integer(spec.Arity);
        WriteNameSet(o, FlagNames, f => spec.Flags.HasFlag(f));
        o.Integer(spec.FirstKey);
        o.Integer(spec.LastKey);
        o.Integer(spec.KeyStep);
        WriteNameSet(o, AclNames, c => spec.Acl.HasFlag(c));

        o.SetHeader(0);

        // Redis 7.0 sends the key specs as a set, and no subcommands as an empty set but some as an array.
        if (spec.HasKeys)
        {
            var specs = KeySpecs.For(spec);
            o.SetHeader(specs.Length);
            foreach (var k in specs)
            {
                o.MapHeader(3);
                o.Bulk("flags"u8);
                o.SetHeader(k.Flags.Length);
                foreach (var flag in k.Flags)
                {
                    o.SimpleString(flag);
                }

                o.Bulk("begin_search"u8);
                o.MapHeader(2);
                o.Bulk("type"u8);
                o.Bulk("index"u8);
                o.Bulk("spec"u8);
                o.MapHeader(1);
                o.Bulk("index"u8);
                o.Integer(k.BeginIndex);
                o.Bulk("find_keys"u8);
                o.MapHeader(2);
                o.Bulk("type"u8);
                o.Bulk("range"u8);
                o.Bulk("spec"u8);
                o.MapHeader(3);
                o.Bulk("lastkey"u8);
                o.Integer(k.LastKey);
                o.Bulk("keystep"u8);
                o.Integer(k.KeyStep);
                o.Bulk("limit"u8);
                o.Integer(0);
            }
        }
        else
        {
            o.SetHeader(0);
        }

        var subs = spec.Subcommands?.Values.ToList() ?? [];
        if (subs.Count == 0)
        {
            o.SetHeader(0);
        }
        else
        {
            o.ArrayHeader(subs.Count);
        }

        foreach (var sub in subs)
        {
            WriteInfo(o, sub);
        }
    }

    /// <summary>A RESP set of the status strings whose flag is on.</summary>
    private static void WriteNameSet<T>(ReplyBuffer o, (T Value, string Name)[] names, Func<T, bool> isOn)
    {
        var on = names.Where(n => isOn(n.Value)).ToList();
        o.SetHeader(on.Count);
        foreach (var (_, name) in on)
        {
            o.SimpleString(name);
        }
    }

    private static void List(Connection c, ArgView a, CommandSpec spec)
    {
        // As Redis 7.0: every command and, after it, each of its subcommands, named and matched by full name.
        var table = c.Loop.Server.Commands;
        IEnumerable<CommandSpec> all = table.Commands.SelectMany(s => s.Subcommands is null ? [s] : s.Subcommands.Values.Prepend(s));
        if (a.Count > 2)
        {
            if (a.Count != 5 || !Is(a[2], "FILTERBY"u8))
            {
                c.Output.Error(Engine.Errors.Syntax);
                return;
            }

            var value = Encoding.UTF8.GetString(a[4]);
            if (Is(a[3], "ACLCAT"u8))
            {
                all = all.Where(s => AclNames.Any(n => s.Acl.HasFlag(n.Cat) && n.Name[1..].Equals(value, StringComparison.OrdinalIgnoreCase)));
            }
            else if (Is(a[3], "PATTERN"u8))
            {
                var pattern = a[4].ToArray();
                all = all.Where(s => Engine.Glob.Match(pattern, Encoding.UTF8.GetBytes(s.FullName), nocase: true));
            }
            else if (Is(a[3], "MODULE"u8))
            {
                all = [];
            }
            else
            {
                c.Output.Error(Engine.Errors.Syntax);
                return;
            }
        }

        var names = all.Select(s => s.FullName).ToList();
        c.Output.ArrayHeader(names.Count);
        foreach (var n in names)
        {
            c.Output.Bulk(n);
        }
    }

    private static void Docs(Connection c, ArgView a, CommandSpec spec)
    {
        var table = c.Loop.Server.Commands;
        var specs = new List<CommandSpec>();
        if (a.Count == 2)
        {
            specs.AddRange(table.Commands);
        }
        else
        {
            for (var i = 2; i < a.Count; i++)
            {
                if (FindByFullName(c, a[i]) is { } s)
                {
                    specs.Add(s);
                }
            }
        }

        c.Output.MapHeader(specs.Count);
        foreach (var s in specs)
        {
            c.Output.Bulk(s.FullName);
            WriteDocs(c.Output, s);
        }
    }

    private static void WriteDocs(ReplyBuffer o, CommandSpec s)
    {
        var hasSubs = s.Subcommands is { Count: > 0 };
        o.MapHeader(hasSubs ? 4 : 3);
        o.Bulk("summary"u8);
        o.Bulk(s.Summary);
        o.Bulk("since"u8);
        o.Bulk(s.Since);
        o.Bulk("group"u8);
        o.Bulk((s.Parent ?? s).Group);
        if (hasSubs)
        {
            o.Bulk("subcommands"u8);
            o.MapHeader(s.Subcommands!.Count);
            foreach (var sub in s.Subcommands.Values)
            {
                o.Bulk(sub.FullName);
                WriteDocs(o, sub);
            }
        }
    }

    /// <summary>COMMAND GETKEYS, and GETKEYSANDFLAGS (each key with its key spec's flags), with Redis's checks in Redis's order.</summary>
    private static void GetKeys(Connection c, ArgView a, bool withFlags)
    {
        var cmd = a.Slice(2);
        var target = c.Loop.Server.Commands.Find(cmd[0]);
        if (target?.Subcommands is not null && cmd.Count >= 2)
        {
            // As Redis's lookupCommand: an unknown subcommand is no command at all.
            target = CommandTable.FindSub(target, cmd[1]);
        }

        if (target is null)
        {
            c.Output.Error("ERR Invalid command specified");
            return;
        }

        if (!target.HasKeys)
        {
            c.Output.Error("ERR The command has no key arguments");
            return;
        }

        if (!target.CheckArity(cmd.Count))
        {
            c.Output.Error("ERR Invalid number of arguments specified for command");
            return;
        }

        if (!target.TryGetKeyRange(cmd.Count, out var first, out var last, out var step))
        {
            c.Output.Error("ERR Invalid arguments specified for command");
            return;
        }

        var n = ((last - first) / step) + 1;
        c.Output.ArrayHeader(n);
        for (var i = first; i <= last; i += step)
        {
            if (!withFlags)
            {
                c.Output.Bulk(cmd[i]);
                continue;
            }

            c.Output.ArrayHeader(2);
            c.Output.Bulk(cmd[i]);
            var flags = KeySpecs.FlagsFor(target, cmd, i);
            c.Output.SetHeader(flags.Length);
            foreach (var flag in flags)
            {
                c.Output.SimpleString(flag);
            }
        }
    }
}
