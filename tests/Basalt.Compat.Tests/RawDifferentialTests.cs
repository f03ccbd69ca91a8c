using System.Net.Sockets;
using System.Text;
using Basalt.Testing;

namespace Basalt.Compat.Tests;

/// <summary>
/// The wire itself, compared with redis-server: raw bytes go in, the client then shuts its sending side, and every
/// byte the server sends until it closes must be the same. This covers what a RESP client library never sends:
/// inline requests with quotes, lengths with leading zeros or signs, NUL bytes where Redis's strchr stops, requests
/// cut short, and a half-closed client whose pipeline crosses shards (it must get every reply, then a close).
/// </summary>
[Collection("oracles")]
public sealed class RawDifferentialTests(Oracles oracles)
{
    public static TheoryData<string> Inputs() =>
    [
        "PING\r\n",
        "PING\n",
        "  PING  \r\n",
        "\r\n\r\nPING\r\n",
        "set raw:k \"a b\"\r\nget raw:k\r\n",
        "echo \"\\x41\\n\\t\"\r\n",
        "echo 'a\\'b'\r\n",
        "echo \"a\"b\r\n",
        "echo 'a'b\r\n",
        "\"unbalanced\r\nPING\r\n",
        "echo 'x\r\n",
        "*1\r\n$4\r\nPING\r\n*1\r\n$4\r\nPINGX\r\n",
        "*-1\r\n*0\r\nPING\r\n",
        "*01\r\n$4\r\nPING\r\n",
        "*+1\r\n$4\r\nPING\r\n",
        "*1 \r\n$4\r\nPING\r\n",
        "* 1\r\n$4\r\nPING\r\n",
        "*1\r\n$04\r\nPING\r\n",
        "*1\r\n$+4\r\nPING\r\n",
        "*1\r\n$ 4\r\nPING\r\n",
        "*1\r\n$4 \r\nPING\r\n",
        "*1\r\n$-0\r\n\r\n",
        "*1\r\n$a\r\n",
        "*1\r\nfoo\r\n",
        "*2\r\n$4\r\necho\r\n$2\r\nhi\r\n*1\r\nk\r\n",
        "*1\r\n$4\r\nPING",
        "*2\r\n$4\r\necho\r\n$5\r\nhi",
        "*1\r\n$1\r\nab\r\nPING\r\n",
        "ECHO a\u0000b\r\nPING\r\n",
        "PING\r\n\u0000\r\nPING\r\n",
        "*1\u0000\r\n$4\r\nPING\r\n",
        "*1\r\n$4\u0000\r\nPING\r\n",
        "*1\r\n\u0000$4\r\nPING\r\n",
        "*2\r\n$3\r\nget\r\n$1\r\n\u0000\r\n",
        "set raw:a 1\r\nset raw:b 2\r\nset raw:c 3\r\nmget raw:a raw:b raw:c raw:d\r\ndel raw:a raw:b raw:c\r\n",

        // A bulk header is judged only once its whole line is in, \n included: cut short, nothing is answered.
        "*1\r\nx\r",

        // Client bytes quoted in errors go back as the bytes sent (printf's %s): not re-encoded, cut at NUL, 128 bytes.
        "*2\r\n$2\r\n\u00ff\u00fe\r\n$1\r\na\r\n",
        "*2\r\n$3\r\nf\u0000o\r\n$3\r\na\u0000b\r\n",
        "foo " + string.Concat(Enumerable.Repeat("\u00c3\u00a9", 100)) + "\r\n",
        "nosuch " + string.Concat(Enumerable.Repeat("abcdefghij ", 20)) + "\r\n",
        "*1\r\n\u00ff\r\n",
        "CLIENT \u00ff\u00fe\r\n",
        "CONFIG SET \u00ff\u00fe x\r\nCONFIG SET FOO bar\r\n",
        "CONFIG GET MAXCLIENTS\r\nCONFIG GET maxclients MAXCLIENTS\r\nCONFIG GET MAXCLIENTS maxc*\r\n",
        "HELLO 2 SETNAME raw-name BAD\r\nCLIENT GETNAME\r\n",
        "HELLO 3 " + new string('x', 200) + "\r\n",
        "*3\r\n$5\r\nHELLO\r\n$1\r\n2\r\n$3\r\na\u0000b\r\n",

        // Redis's guard against HTTP sent to the RESP port: closed with no reply, not even for what came before.
        "POST / HTTP/1.1\r\nHost: x\r\n\r\n",
        "host: x\r\nPING\r\n",
        "PING\r\nHOST: x\r\nPING\r\n",
        "*1\r\n$5\r\nHost:\r\nPING\r\n",
    ];

    [Theory]
    [MemberData(nameof(Inputs))]
    public void Raw_bytes_get_the_same_bytes_back(string input)
    {
        var bytes = Encoding.Latin1.GetBytes(input);
        var expected = Exchange(oracles.Redis.Port, bytes);
        var actual = Exchange(oracles.Basalt.Port, bytes);
        Assert.True(
            expected.AsSpan().SequenceEqual(actual),
            $"input {Show(bytes)}\n  redis:  {Show(expected)}\n  basalt: {Show(actual)}");
    }

    [Fact]
    public void A_half_closed_pipeline_across_shards_gets_every_reply_then_a_close()
    {
        var pipeline = new StringBuilder();
        for (var i = 0; i < 100; i++)
        {
            pipeline.Append(CultureInvariant($"SET half:{i} {i}\r\nGET half:{i}\r\n"));
        }

        pipeline.Append("MGET half:1 half:2 half:3 half:4 half:5\r\nDEL half:1 half:2 half:3\r\nINCR half:7\r\n");
        var bytes = Encoding.ASCII.GetBytes(pipeline.ToString());
        var expected = Exchange(oracles.Redis.Port, bytes);

        // The end of stream often arrives with the last data, in one epoll edge: it must still be read, every time.
        for (var round = 0; round < 30; round++)
        {
            var actual = Exchange(oracles.Basalt.Port, bytes);
            Assert.True(expected.AsSpan().SequenceEqual(actual), $"round {round}: {actual.Length} bytes against {expected.Length}");
        }
    }

    /// <summary>Sends the bytes, shuts the sending side, and reads until the server closes (at most 10 s).</summary>
    private static byte[] Exchange(int port, byte[] input)
    {
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        socket.Connect("127.0.0.1", port);
        socket.ReceiveTimeout = 10_000;
        socket.Send(input);
        socket.Shutdown(SocketShutdown.Send);
        var output = new MemoryStream();
        var buffer = new byte[64 * 1024];
        while (true)
        {
            int n;
            try
            {
                n = socket.Receive(buffer);
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.TimedOut)
            {
                Assert.Fail($"port {port}: no close within 10 s after {output.Length} bytes");
                return [];
            }
            catch (SocketException ex) when (ex.SocketErrorCode == SocketError.ConnectionReset)
            {
                break;
            }

            if (n == 0)
            {
                break;
            }

            output.Write(buffer, 0, n);
        }

        return output.ToArray();
    }

    private static string CultureInvariant(FormattableString s) => FormattableString.Invariant(s);

    private static string Show(byte[] bytes) => string.Concat(bytes.Select(b => b is >= 32 and < 127 && b != '\\' ? ((char)b).ToString() : $"\\x{b:x2}"));
}
