using System.Text;

namespace Basalt.Protocol;

/// <summary>
/// Error text that quotes a client's bytes as Redis's printf <c>%s</c> does: the bytes go out as they are (not decoded
/// and re-encoded as UTF-8), up to the first NUL byte, and a <c>%.Ns</c> precision counts bytes, not characters. Redis
/// then replaces CR and LF anywhere in the message with spaces, so the reply stays on one line. Only error paths use it.
/// </summary>
public sealed class ErrorText
{
    private byte[] _bytes = new byte[256];

    public int Length { get; private set; }

    public ReadOnlySpan<byte> Bytes => _bytes.AsSpan(0, Length);

    /// <summary>Appends the server's own text.</summary>
    public ErrorText Add(string text)
    {
        var n = Encoding.UTF8.GetByteCount(text);
        Encoding.UTF8.GetBytes(text, Room(n));
        Length += n;
        return this;
    }

    /// <summary>Appends a client's bytes as <c>%.{max}s</c> prints them: up to the first NUL, at most <paramref name="max"/> bytes.</summary>
    public ErrorText Add(ReadOnlySpan<byte> clientBytes, int max = int.MaxValue)
    {
        var nul = clientBytes.IndexOf((byte)0);
        if (nul >= 0)
        {
            clientBytes = clientBytes[..nul];
        }

        if (clientBytes.Length > max)
        {
            clientBytes = clientBytes[..Math.Max(max, 0)];
        }

        clientBytes.CopyTo(Room(clientBytes.Length));
        Length += clientBytes.Length;
        return this;
    }

    /// <summary>Writes the error reply, with CR and LF turned into spaces as Redis's addReplyErrorFormat does.</summary>
    public void WriteTo(ReplyBuffer output)
    {
        var text = _bytes.AsSpan(0, Length);
        text.Replace((byte)'\r', (byte)' ');
        text.Replace((byte)'\n', (byte)' ');
        output.Error(text);
    }

    private Span<byte> Room(int n)
    {
        if (Length + n > _bytes.Length)
        {
            Array.Resize(ref _bytes, Math.Max(_bytes.Length * 2, Length + n));
        }

        return _bytes.AsSpan(Length, n);
    }
}
