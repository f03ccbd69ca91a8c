using Basalt.Protocol;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// COMMAND INFO's entries carry the RESP3 types Redis 7.0 gives them, element by element, down into subcommands:
/// flags, ACL categories, tips and key specs are sets, and so is an empty subcommand list, while a non-empty one is
/// an array. (Their contents differ where docs/compatibility.md says: Basalt has no tips and no key-spec flags.)
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
