using System.Net.Sockets;
using System.Text;
using Basalt.Protocol;

namespace Basalt.Testing;

/// <summary>A minimal synchronous RESP client over a real socket, for tests.</summary>
public sealed class RespConnection : IDisposable
{
    private readonly TcpClient _client;
    private readonly NetworkStream _stream;
    private byte[] _buffer = new byte[64 * 1024];
    private int _start;
    private int _end;

    public RespConnection(int port, int timeoutMs = 30_000)
    {
        _client = new TcpClient { NoDelay = true, ReceiveTimeout = timeoutMs, SendTimeout = timeoutMs };
        _client.Connect("127.0.0.1", port);
        _stream = _client.GetStream();
    }

    public Socket Socket => _client.Client;

    public static byte[] Encode(IReadOnlyList<byte[]> args) => RespRequest.Encode(args);

    public static byte[] Encode(params string[] args) => Encode(args.Select(Encoding.UTF8.GetBytes).ToArray());

    public RespValue Call(params string[] args)
    {
        SendRaw(Encode(args));
        return Read();
    }

    public RespValue Call(IReadOnlyList<byte[]> args)
    {
        SendRaw(Encode(args));
        return Read();
    }

    public void SendRaw(ReadOnlySpan<byte> bytes) => _stream.Write(bytes);

    public RespValue Read()
    {
        while (true)
        {
            if (_end > _start && RespValueReader.TryRead(_buffer.AsSpan(_start, _end - _start), out var v, out var used))
            {
                _start += used;
                return v!;
            }

            if (_start > 0)
            {
                Buffer.BlockCopy(_buffer, _start, _buffer, 0, _end - _start);
                _end -= _start;
                _start = 0;
            }

            if (_end == _buffer.Length)
            {
                Array.Resize(ref _buffer, _buffer.Length * 2);
            }

            var n = _stream.Read(_buffer, _end, _buffer.Length - _end);
            if (n == 0)
            {
                throw new EndOfStreamException("server closed the connection");
            }

            _end += n;
        }
    }

    /// <summary>True if the server closed the connection within the timeout without sending a single byte first.</summary>
    public bool IsClosedWithoutReply(int timeoutMs = 5000)
    {
        if (_end > _start)
        {
            return false;
        }

        _client.ReceiveTimeout = timeoutMs;
        try
        {
            return _stream.Read(new byte[1], 0, 1) == 0;
        }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    /// <summary>True if the server closed the connection (reads EOF) within the timeout.</summary>
    public bool IsClosedByServer(int timeoutMs = 5000)
    {
        _client.ReceiveTimeout = timeoutMs;
        try
        {
            var tmp = new byte[4096];
            while (true)
            {
                var n = _stream.Read(tmp, 0, tmp.Length);
                if (n == 0)
                {
                    return true;
                }
            }
        }
        catch (IOException ex) when (ex.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionReset })
        {
            return true;
        }
        catch (IOException)
        {
            return false;
        }
    }

    public void Dispose() => _client.Dispose();
}
