using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// COMMAND INFO's entries carry the RESP3 types Redis 7.0 gives them, element by element, down into subcommands:
/// flags, ACL categories, tips and key specs are sets, and so is an empty subcommand list, while a non-empty one is
/// an array. (Their contents differ where docs/compatibility.md says: Basalt has no tips and no key-spec notes.)
/// </summary>
[Collection("oracles")]
public sealed class CommandInfoTests(Oracles oracles)
{
    [Theory]
    [InlineData("get")]
    [InlineData("ping")]
    [InlineData("mset")]
    [InlineData("config")]
    [InlineData("object")]
    [InlineData("object|encoding")]
    public void Entry_types_match_redis_under_resp3(string command)
    {
        Assert.Equal(Types(oracles.Redis, command), Types(oracles.Basalt, command));
    }

    [Fact]
    public void Every_command_has_redis_arity_flags_and_acl_categories()
    {
        using var basalt = Differential.Open(oracles.Basalt, 2);
        using var redis = Differential.Open(oracles.Redis, 2);
        var names = new List<string>();
        foreach (var name in basalt.Call("COMMAND", "LIST").Items!.Select(i => i.Text!))
        {
            names.Add(name);
            var entry = Assert.Single(basalt.Call("COMMAND", "INFO", name).Items!);
            names.AddRange(entry.Items![9].Items!.Select(sub => sub.Items![0].Text!));
        }

        var differences = new List<string>();
        foreach (var name in names)
        {
            var ours = Assert.Single(basalt.Call("COMMAND", "INFO", name).Items!);
            var theirs = Assert.Single(redis.Call("COMMAND", "INFO", name).Items!);
            if (theirs.IsNull)
            {
                continue; // a Redis 7.2 addition (CLIENT SETINFO, NO-TOUCH), in docs/compatibility.md
            }

            foreach (var (index, field) in new[] { (1, "arity"), (2, "flags"), (6, "acl categories") })
            {
                string Show(RespValue v) => v.Items is { } list
                    ? string.Join(" ", list.Select(x => x.Text).Order(StringComparer.Ordinal))
                    : v.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture);
                if (Show(ours.Items![index]) != Show(theirs.Items![index]))
                {
                    differences.Add($"{name} {field}: basalt '{Show(ours.Items![index])}', redis '{Show(theirs.Items![index])}'");
                }
            }
        }

        Assert.True(names.Count > 80, $"only {names.Count} commands listed");
        Assert.Empty(differences);
    }

    [Theory]
    [InlineData(2)]
    [InlineData(3)]
    public void Every_command_has_redis_key_specs_but_their_notes(int protocol)
    {
        // The key specs as values (types included under RESP3): flags in Redis's order, begin_search, find_keys. Redis's
        // notes (SET's and GETEX's) are its documentation prose, left out (docs/compatibility.md).
        using var basalt = Differential.Open(oracles.Basalt, protocol);
        using var redis = Differential.Open(oracles.Redis, protocol);
        var differences = new List<string>();
        var keyed = 0;
        foreach (var name in AllNames(basalt))
        {
            var ours = Assert.Single(basalt.Call("COMMAND", "INFO", name).Items!);
            var theirs = Assert.Single(redis.Call("COMMAND", "INFO", name).Items!);
            if (theirs.IsNull)
            {
                continue;
            }

            var a = string.Join(" | ", ours.Items![8].Items!.Select(Render));
            var b = string.Join(" | ", theirs.Items![8].Items!.Select(WithoutNotes).Select(Render));
            keyed += ours.Items![8].Items!.Count > 0 ? 1 : 0;
            if (a != b)
            {
                differences.Add($"{name}: basalt {a}; redis {b}");
            }
        }

        Assert.True(keyed >= 45, $"only {keyed} commands with key specs");
        Assert.Empty(differences);
    }

    private static List<string> AllNames(RespConnection c)
    {
        var names = new List<string>();
        foreach (var name in c.Call("COMMAND", "LIST").Items!.Select(i => i.Text!))
        {
            names.Add(name);
            var entry = Assert.Single(c.Call("COMMAND", "INFO", name).Items!);
            names.AddRange(entry.Items![9].Items!.Select(sub => sub.Items![0].Text!));
        }

        return names;
    }

    /// <summary>A key spec (a map, or its RESP2 flat array) without its notes entry.</summary>
    private static RespValue WithoutNotes(RespValue spec)
    {
        var items = spec.Items!;
        var kept = new List<RespValue>();
        for (var i = 0; i + 1 < items.Count; i += 2)
        {
            if (items[i].Text != "notes")
            {
                kept.Add(items[i]);
                kept.Add(items[i + 1]);
            }
        }

        return new RespValue { Type = spec.Type, Items = kept };
    }

    /// <summary>A value with its RESP type at every level, for comparing whole structures.</summary>
    private static string Render(RespValue v) => v.Items is { } items
        ? $"{v.Type}[{string.Join(",", items.Select(Render))}]"
        : $"{v.Type}:{(v.Type == RespType.Integer ? v.Integer.ToString(System.Globalization.CultureInfo.InvariantCulture) : v.Text)}";

    [Fact]
    public void Every_command_documents_the_redis_version_and_group_redis_does()
    {
        using var basalt = Differential.Open(oracles.Basalt, 2);
        using var redis = Differential.Open(oracles.Redis, 2);
        var differences = new List<string>();
        var compared = 0;
        foreach (var name in basalt.Call("COMMAND", "LIST").Items!.Select(i => i.Text!).Where(n => !n.Contains('|', StringComparison.Ordinal)))
        {
            var ours = Docs(basalt, name);
            var theirs = Docs(redis, name);
            Assert.NotNull(ours);
            if (theirs is null)
            {
                continue;
            }

            Compare(name, ours, theirs);
            var ourSubs = Fields(ours.GetValueOrDefault("subcommands"));
            var theirSubs = Fields(theirs.GetValueOrDefault("subcommands"));
            foreach (var (sub, doc) in ourSubs)
            {
                if (theirSubs.TryGetValue(sub, out var theirDoc))
                {
                    Compare(sub, Fields(doc), Fields(theirDoc));
                }
            }
        }

        Assert.True(compared > 80, $"only {compared} commands compared");
        Assert.Empty(differences);

        void Compare(string name, Dictionary<string, RespValue> ours, Dictionary<string, RespValue> theirs)
        {
            compared++;
            foreach (var field in new[] { "since", "group" })
            {
                var a = ours.GetValueOrDefault(field)?.Text;
                var b = theirs.GetValueOrDefault(field)?.Text;
                if (a != b)
                {
                    differences.Add($"{name} {field}: basalt '{a}', redis '{b}'");
                }
            }
        }
    }

    /// <summary>COMMAND DOCS for one command as field → value, or null when the server doesn't know it.</summary>
    private static Dictionary<string, RespValue>? Docs(RespConnection c, string name)
    {
        var reply = c.Call("COMMAND", "DOCS", name).Items!;
        return reply.Count == 0 ? null : Fields(reply[1]);
    }

    /// <summary>A RESP2 flat list of name, value pairs (the shape of a RESP3 map) as a dictionary.</summary>
    private static Dictionary<string, RespValue> Fields(RespValue? pairs)
    {
        var result = new Dictionary<string, RespValue>(StringComparer.Ordinal);
        var items = pairs?.Items ?? [];
        for (var i = 0; i + 1 < items.Count; i += 2)
        {
            result[items[i].Text!] = items[i + 1];
        }

        return result;
    }

    private static string Types(ServerProcess server, string command)
    {
        using var c = Differential.Open(server, 3);
        var reply = c.Call("COMMAND", "INFO", command);
        var entry = Assert.Single(reply.Items!);
        Assert.Equal(RespType.Array, entry.Type);
        return Describe(entry);
    }

    /// <summary>An entry's element types; subcommand entries are described by the same rule, in name order.</summary>
    private static string Describe(RespValue entry)
    {
        var items = entry.Items!;
        Assert.Equal(10, items.Count);
        var types = string.Join(",", items.Select(i => i.Type.ToString()));
        var subs = items[9].Items!.Select(Describe).Order(StringComparer.Ordinal);
        return $"[{types}]{{{string.Join(";", subs)}}}";
    }
}
