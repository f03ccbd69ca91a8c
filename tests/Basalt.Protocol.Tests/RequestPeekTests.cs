using System.Text;
using Basalt.Protocol;
using FsCheck;
using FsCheck.Fluent;

namespace Basalt.Protocol.Tests;

/// <summary>The look-ahead used for prefetching agrees with the real parser, and never trusts a frame it can't see whole.</summary>
public sealed class RequestPeekTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(500);

    [Fact]
    public void Peek_finds_each_frames_key_and_the_next_frame_as_the_parser_does()
    {
        Prop.ForAll<IList<byte[]>>(Arb.From(Gen.ListOf(Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i))).Where(l => l.Count > 0).Select(l => (IList<byte[]>)l.ToList())), (Func<IList<byte[]>, bool>)(args =>
        {
            var frame = RespRequest.Encode(args.ToList());
            var twice = frame.Concat(frame).ToArray();
            var parser = new RequestParser(ProtocolLimits.Default);
            var parsed = new ArgList();
            var pos = 0;
            var ok = RequestPeek.TrySkipFrame(twice, ref pos, out var start, out var length)
                && parser.Next(twice, twice.Length, parsed) == ParseStatus.Command
                && pos == parser.Position;
            if (args.Count > 1)
            {
                ok = ok && start == parsed.Offsets[1] && length == parsed.Lengths[1];
            }
            else
            {
                ok = ok && length == -1;
            }

            return ok;
        })).Check(Runs);
    }

    [Fact]
    public void Peek_stops_at_a_partial_frame_without_moving()
    {
        var frame = Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nvalue\r\n");
        for (var cut = 0; cut < frame.Length; cut++)
        {
            var pos = 0;
            Assert.False(RequestPeek.TrySkipFrame(frame.AsSpan(0, cut), ref pos, out _, out _));
            Assert.Equal(0, pos);
        }
    }

    [Theory]
    [InlineData("GET key\r\n")]
    [InlineData("*2\r\n$3\r\nGET\r\n+key\r\n")]
    [InlineData("*-1\r\n")]
    [InlineData("*2\r\n$-1\r\n$1\r\nk\r\n")] // complete but for the null bulk
    [InlineData("*4294967297\r\n$3\r\nGET\r\n")] // a count that wraps to 1 in 32 bits: complete if read so
    [InlineData("*2\n$3\nGET\n$1\nk\n")]
    public void Peek_refuses_anything_but_a_well_formed_multibulk(string text)
    {
        var pos = 0;
        Assert.False(RequestPeek.TrySkipFrame(Encoding.ASCII.GetBytes(text), ref pos, out _, out _));
        Assert.Equal(0, pos);
    }

    [Fact]
    public void Random_bytes_never_throw_and_never_skip_past_the_data()
    {
        Prop.ForAll<byte[]>(Arb.From(Gen.ArrayOf(Gen.Elements<byte>((byte)'*', (byte)'$', (byte)'\r', (byte)'\n', (byte)'1', (byte)'2', (byte)'0', (byte)'-', (byte)'a'))), (Func<byte[], bool>)(bytes =>
        {
            var pos = 0;
            while (RequestPeek.TrySkipFrame(bytes, ref pos, out var start, out var length))
            {
                if (pos > bytes.Length || (length >= 0 && start + length > bytes.Length))
                {
                    return false;
                }
            }

            return pos <= bytes.Length;
        })).Check(Runs);
    }
}
