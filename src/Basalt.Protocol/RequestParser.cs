namespace Basalt.Protocol;

public enum ParseStatus
{
    /// <summary>A whole command was parsed; its args were appended.</summary>
    Command,

    /// <summary>An empty request (blank inline line or <c>*0</c>): consumed, nothing to run.</summary>
    Empty,

    /// <summary>More bytes are needed. <see cref="RequestParser.BytesWanted"/> says how many in all, if known.</summary>
    Incomplete,

    /// <summary>The stream is malformed; reply <see cref="RequestParser.Error"/> and close.</summary>
    Error,
}

/// <summary>
/// Parses client requests (RESP multibulk and inline) in place over one contiguous buffer.
/// Resumable: a frame that arrives in pieces is not re-parsed from its start, so a huge
/// MSET costs linear time. Error strings match Redis's networking.c word for word.
/// </summary>
public sealed class RequestParser
{
    private readonly ProtocolLimits _limits;

    // State of a partially parsed multibulk frame.
    private int _pending = -1;     // elements left to read, -1 when between frames
    private int _argsAtFrameStart;

    public RequestParser(ProtocolLimits limits) => _limits = limits;

    /// <summary>Position in the buffer up to which bytes are consumed.</summary>
    public int Position { get; private set; }

    /// <summary>Start of the frame being parsed; bytes before it may be discarded once answered.</summary>
    public int FrameStart { get; private set; }

    /// <summary>When Incomplete inside a bulk, the buffer length needed to finish it.</summary>
    public long BytesWanted { get; private set; }

    /// <summary>
    /// The error text, one char per byte (Latin-1): Redis quotes a raw byte in "expected '$', got '%c'", so it must
    /// go back out as that byte, not as its UTF-8 encoding.
    /// </summary>
    public string? Error { get; private set; }

    /// <summary>
    /// The client must still authenticate: as in Redis 7.0, a multibulk of more than 10 elements or a bulk of more than
    /// 16384 bytes is then a protocol error, so a client without the password can't make the server buffer much.
    /// Set by the connection before each <see cref="Next"/>, since an AUTH earlier in the pipeline changes it.
    /// </summary>
    public bool Unauthenticated { get; set; }

    /// <summary>Largest multibulk count a client that must still authenticate may send (Redis 7.0).</summary>
    public const int UnauthenticatedMaxMultibulk = 10;

    /// <summary>Largest bulk a client that must still authenticate may send (Redis 7.0).</summary>
    public const int UnauthenticatedMaxBulk = 16384;

    /// <summary>
    /// Bytes of the current frame held by finished arguments of 32 KB or more (Redis's PROTO_MBULK_BIG_ARG). Redis moves
    /// such an argument out of its query buffer as soon as it is read, so client-query-buffer-limit doesn't count it.
    /// </summary>
    public long BigArgBytes { get; private set; }

    private const int BigArg = 32 * 1024;

    public bool InFrame => _pending >= 0;

    public void Reset()
    {
        Position = 0;
        FrameStart = 0;
        _pending = -1;
        Error = null;
        BytesWanted = 0;
        BigArgBytes = 0;
    }

    /// <summary>Moves the positions after the caller discarded <paramref name="delta"/> leading bytes.</summary>
    public void Shift(int delta)
    {
        Position -= delta;
        FrameStart -= delta;
    }

    /// <summary>Parses at most one command from <c>buffer[Position..end)</c>.</summary>
    public ParseStatus Next(byte[] buffer, int end, ArgList args)
    {
        BytesWanted = 0;
        if (_pending < 0)
        {
            if (Position >= end)
            {
                return ParseStatus.Incomplete;
            }

            FrameStart = Position;
            if (buffer[Position] != (byte)'*')
            {
                return ParseInline(buffer, end, args);
            }

            var span = new ReadOnlySpan<byte>(buffer, Position, end - Position);
            var nl = IndexBeforeNul(span, (byte)'\r');
            if (nl < 0)
            {
                return span.Length > _limits.MaxInlineLength
                    ? Fail("Protocol error: too big mbulk count string")
                    : ParseStatus.Incomplete;
            }

            if (nl + 1 >= span.Length)
            {
                return ParseStatus.Incomplete;
            }

            if (!TryParseLong(span.Slice(1, nl - 1), out var count) || count > _limits.MaxMultibulkLength)
            {
                return Fail("Protocol error: invalid multibulk length");
            }

            if (count > UnauthenticatedMaxMultibulk && Unauthenticated)
            {
                return Fail("Protocol error: unauthenticated multibulk length");
            }

            Position += nl + 2;
            if (count <= 0)
            {
                return ParseStatus.Empty;
            }

            _pending = (int)count;
            _argsAtFrameStart = args.Count;
            BigArgBytes = 0;
        }

        while (_pending > 0)
        {
            var span = new ReadOnlySpan<byte>(buffer, Position, end - Position);
            if (span.IsEmpty)
            {
                return ParseStatus.Incomplete;
            }

            var nl = IndexBeforeNul(span, (byte)'\r');
            if (nl < 0)
            {
                return span.Length > _limits.MaxInlineLength
                    ? Fail("Protocol error: too big bulk count string")
                    : ParseStatus.Incomplete;
            }

            // As Redis: the whole line, \n included, must be there before its first byte is judged.
            if (nl + 1 >= span.Length)
            {
                return ParseStatus.Incomplete;
            }

            if (span[0] != (byte)'$')
            {
                return Fail($"Protocol error: expected '$', got '{(char)span[0]}'");
            }

            if (!TryParseLong(span.Slice(1, nl - 1), out var len) || len < 0 || len > _limits.MaxBulkLength)
            {
                return Fail("Protocol error: invalid bulk length");
            }

            if (len > UnauthenticatedMaxBulk && Unauthenticated)
            {
                return Fail("Protocol error: unauthenticated bulk length");
            }

            // A length no buffer can hold (proto-max-bulk-len may be set up to 2^63 - 1) is wanted in full, without the
            // sum overflowing: the connection then refuses it by its query buffer limit, as Redis does.
            var dataStart = Position + nl + 2;
            var need = len > Array.MaxLength ? long.MaxValue : dataStart + len + 2;
            if (need > end)
            {
                BytesWanted = need - FrameStart;
                return ParseStatus.Incomplete;
            }

            // Like Redis, the two bytes after the payload are skipped, not checked.
            args.Add(dataStart, (int)len);
            if (len >= BigArg)
            {
                BigArgBytes += len;
            }

            Position = (int)need;
            _pending--;
        }

        _pending = -1;
        BigArgBytes = 0;
        return ParseStatus.Command;
    }

    /// <summary>Called after the arg list kept only the current frame's args, moved to the front.</summary>
    public void OnArgsCompacted() => _argsAtFrameStart = 0;

    /// <summary>The index in the arg list where the last (or current) frame's args begin.</summary>
    public int FrameArgStart => _argsAtFrameStart;

    private ParseStatus ParseInline(byte[] buffer, int end, ArgList args)
    {
        var span = new ReadOnlySpan<byte>(buffer, Position, end - Position);
        var nl = IndexBeforeNul(span, (byte)'\n');
        if (nl < 0)
        {
            return span.Length > _limits.MaxInlineLength
                ? Fail("Protocol error: too big inline request")
                : ParseStatus.Incomplete;
        }

        var lineEnd = nl;
        if (lineEnd > 0 && span[lineEnd - 1] == (byte)'\r')
        {
            lineEnd--;
        }

        _argsAtFrameStart = args.Count;
        if (!InlineSplitter.Split(buffer, Position, Position + lineEnd, args))
        {
            args.Truncate(_argsAtFrameStart);
            return Fail("Protocol error: unbalanced quotes in request");
        }

        Position += nl + 1;
        return args.Count == _argsAtFrameStart ? ParseStatus.Empty : ParseStatus.Command;
    }

    private ParseStatus Fail(string message)
    {
        Error = message;
        return ParseStatus.Error;
    }

    private static bool TryParseLong(ReadOnlySpan<byte> digits, out long value) => String2ll.TryParse(digits, out value);

    /// <summary>
    /// Where Redis's strchr(line, c) finds c: it stops at a NUL byte, so a NUL before c means "not yet" and Redis
    /// keeps waiting for more bytes (until the line passes the inline limit). -1 when not found.
    /// </summary>
    private static int IndexBeforeNul(ReadOnlySpan<byte> span, byte c)
    {
        var i = span.IndexOfAny(c, (byte)0);
        return i >= 0 && span[i] == c ? i : -1;
    }
}
