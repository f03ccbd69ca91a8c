using Basalt.Engine.Commands;

namespace Basalt.Server.Shards;

/// <summary>
/// Remembers one client's last command name bytes (exact case) and its spec. Pipelines and
/// benchmarks repeat one command, so the case-insensitive table lookup runs once per change.
/// </summary>
internal sealed class LastCommandCache
{
    private readonly byte[] _name = new byte[32];
    private int _length = -1;
    private CommandSpec? _spec;

    public CommandSpec? Find(ReadOnlySpan<byte> name, CommandTable table)
    {
        if (_spec is not null && name.SequenceEqual(_name.AsSpan(0, _length)))
        {
            return _spec;
        }

        var spec = table.Find(name);
        if (spec is not null && name.Length <= _name.Length)
        {
            name.CopyTo(_name);
            _length = name.Length;
            _spec = spec;
        }

        return spec;
    }
}
