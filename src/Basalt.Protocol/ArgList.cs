namespace Basalt.Protocol;

/// <summary>
/// Growable table of argument positions (offset, length) into one request buffer.
/// The parser appends; the connection resets it once every parsed command has been answered.
/// </summary>
public sealed class ArgList
{
    private int[] _offsets = new int[64];
    private int[] _lengths = new int[64];

    public int Count { get; private set; }

    /// <summary>Arguments the table holds before it grows.</summary>
    public int Capacity => _offsets.Length;

    public int[] Offsets => _offsets;

    public int[] Lengths => _lengths;

    public void Add(int offset, int length)
    {
        if (Count == _offsets.Length)
        {
            Array.Resize(ref _offsets, _offsets.Length * 2);
            Array.Resize(ref _lengths, _lengths.Length * 2);
        }

        _offsets[Count] = offset;
        _lengths[Count] = length;
        Count++;
    }

    /// <summary>Drops arguments from <paramref name="count"/> on (an unfinished frame's partial args).</summary>
    public void Truncate(int count) => Count = count;

    public void Clear() => Count = 0;

    /// <summary>Gives back a table grown past <paramref name="max"/> arguments (a request of a million), once it is empty.</summary>
    public void Shrink(int max)
    {
        if (Count == 0 && _offsets.Length > max)
        {
            _offsets = new int[64];
            _lengths = new int[64];
        }
    }

    /// <summary>Keeps only the last <paramref name="count"/> args, moved to the front.</summary>
    public void KeepLast(int count)
    {
        if (count > 0 && count < Count)
        {
            Array.Copy(_offsets, Count - count, _offsets, 0, count);
            Array.Copy(_lengths, Count - count, _lengths, 0, count);
        }

        Count = count;
    }

    /// <summary>Shifts every recorded offset after the buffer was compacted by <paramref name="delta"/> bytes.</summary>
    public void Shift(int delta)
    {
        for (var i = 0; i < Count; i++)
        {
            _offsets[i] -= delta;
        }
    }
}

/// <summary>A view of one command's arguments: zero-copy spans over the request buffer.</summary>
public readonly struct ArgView
{
    private readonly byte[] _buffer;
    private readonly int[] _offsets;
    private readonly int[] _lengths;
    private readonly int _first;

    public ArgView(byte[] buffer, ArgList args, int first, int count)
    {
        _buffer = buffer;
        _offsets = args.Offsets;
        _lengths = args.Lengths;
        _first = first;
        Count = count;
    }

    public ArgView(byte[] buffer, int[] offsets, int[] lengths, int first, int count)
    {
        _buffer = buffer;
        _offsets = offsets;
        _lengths = lengths;
        _first = first;
        Count = count;
    }

    public int Count { get; }

    public ReadOnlySpan<byte> this[int index] => new(_buffer, _offsets[_first + index], _lengths[_first + index]);

    /// <summary>Copies one argument out, for storing it beyond the request's lifetime.</summary>
    public byte[] ToArray(int index) => this[index].ToArray();

    /// <summary>A view of the arguments from <paramref name="start"/> on.</summary>
    public ArgView Slice(int start) => new(_buffer, _offsets, _lengths, _first + start, Count - start);
}
