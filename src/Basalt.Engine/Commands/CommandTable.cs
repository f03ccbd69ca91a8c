using System.Text;

namespace Basalt.Engine.Commands;

/// <summary>
/// The declarative command table: every command, its arity, flags, key positions and where it runs.
/// Families register into it at startup; after that it is read-only and shared by all shards.
/// </summary>
public sealed class CommandTable
{
    private readonly Dictionary<string, CommandSpec> _byName = new(StringComparer.OrdinalIgnoreCase);
    private readonly Dictionary<string, CommandSpec>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private readonly List<CommandSpec> _all = [];

    public CommandTable() => _lookup = _byName.GetAlternateLookup<ReadOnlySpan<char>>();

    public IReadOnlyCollection<CommandSpec> Commands => _byName.Values;

    /// <summary>Every spec including subcommands, indexed by <see cref="CommandSpec.Id"/>.</summary>
    public IReadOnlyList<CommandSpec> AllById => _all;

    public void Add(CommandSpec spec)
    {
        if (!_byName.TryAdd(spec.Name, spec))
        {
            throw new InvalidOperationException($"command {spec.Name} registered twice");
        }

        Index(spec);
        if (spec.Subcommands is { } subs)
        {
            foreach (var sub in subs.Values)
            {
                sub.Parent = spec;
                Index(sub);
            }
        }
    }

    /// <summary>Looks a command up by its name bytes, case-insensitively, without allocating.</summary>
    public CommandSpec? Find(ReadOnlySpan<byte> name)
    {
        if (name.Length is 0 or > 64)
        {
            return null;
        }

        Span<char> chars = stackalloc char[name.Length];
        for (var i = 0; i < name.Length; i++)
        {
            chars[i] = (char)name[i];
        }

        return _lookup.TryGetValue(chars, out var spec) ? spec : null;
    }

    public CommandSpec? Find(string name) => _byName.GetValueOrDefault(name);

    /// <summary>Resolves a container command's subcommand (args[1]), or null if unknown.</summary>
    public static CommandSpec? FindSub(CommandSpec container, ReadOnlySpan<byte> name)
    {
        if (container.Subcommands is null || name.Length > 64)
        {
            return null;
        }

        var text = Encoding.Latin1.GetString(name).ToLowerInvariant();
        return container.Subcommands.GetValueOrDefault(text);
    }

    /// <summary>Indexes subcommands added to a container after registration.</summary>
    public void Reindex(CommandSpec container)
    {
        foreach (var sub in container.Subcommands!.Values)
        {
            if (sub.Parent is null)
            {
                sub.Parent = container;
                Index(sub);
            }
        }
    }

    private void Index(CommandSpec spec)
    {
        spec.Id = _all.Count;
        _all.Add(spec);
    }
}
