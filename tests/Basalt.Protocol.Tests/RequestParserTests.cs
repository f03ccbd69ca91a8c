using System.Text;
using Basalt.Protocol;

namespace Basalt.Protocol.Tests;

public sealed class RequestParserTests
{
    [Fact]
    public void Parses_a_multibulk_command_in_place()
    {
        var (status, args) = ParseOne("*2\r\n$3\r\nGET\r\n$3\r\nkey\r\n");
        Assert.Equal(ParseStatus.Command, status);
        Assert.Equal(["GET", "key"], args);
    }

    [Fact]
    public void Resumes_a_frame_split_at_every_byte()
    {
        var frame = Encoding.ASCII.GetBytes("*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nhello\r\n");
        var parser = new RequestParser(ProtocolLimits.Default);
        var list = new ArgList();
        var status = ParseStatus.Incomplete;
        for (var len = 1; len <= frame.Length; len++)
        {
            status = parser.Next(frame, len, list);
            if (len < frame.Length)
            {
                Assert.Equal(ParseStatus.Incomplete, status);
            }
        }

        Assert.Equal(ParseStatus.Command, status);
        Assert.Equal(3, list.Count);
        Assert.Equal("hello", Encoding.ASCII.GetString(frame, list.Offsets[2], list.Lengths[2]));
    }

    [Fact]
    public void Asks_for_the_whole_bulk_it_is_waiting_for()
    {
        var parser = new RequestParser(ProtocolLimits.Default);
        var buf = Encoding.ASCII.GetBytes("*1\r\n$100\r\nabc");
        Assert.Equal(ParseStatus.Incomplete, parser.Next(buf, buf.Length, new ArgList()));
        Assert.Equal(4 + 6 + 100 + 2, parser.BytesWanted);
    }

    [Theory]
    [InlineData("9223372036854775807")]
    [InlineData("9223372036854775000")]
    [InlineData("2147483648")]
    public void A_bulk_no_buffer_can_hold_is_wanted_in_full_without_overflowing(string length)
    {
        // proto-max-bulk-len goes up to 2^63 - 1: such a length passes it, and the sum of position and length must not
        // wrap into a small or negative count that would read as a complete argument.
        var parser = new RequestParser(new ProtocolLimits { MaxBulkLength = long.MaxValue });
        var buf = Encoding.ASCII.GetBytes($"*2\r\n$3\r\nSET\r\n${length}\r\nabc");
        var args = new ArgList();
        Assert.Equal(ParseStatus.Incomplete, parser.Next(buf, buf.Length, args));
        Assert.True(parser.BytesWanted > Array.MaxLength, $"wanted {parser.BytesWanted}");
        Assert.Equal(ParseStatus.Incomplete, parser.Next(buf, buf.Length, args));
    }

    [Theory]
    [InlineData("PING\r\n", new[] { "PING" })]
    [InlineData("set k \"a b\"\n", new[] { "set", "k", "a b" })]
    [InlineData("set k 'it''s'\r\n", null)]
    [InlineData("echo \"\\x41\\n\"\r\n", new[] { "echo", "A\n" })]
    [InlineData("echo 'a\\'b'\r\n", new[] { "echo", "a'b" })]
    [InlineData("  spaced   out  \r\n", new[] { "spaced", "out" })]
    public void Splits_inline_commands_like_sdssplitargs(string line, string[]? expected)
    {
        var (status, args) = ParseOne(line);
        if (expected is null)
        {
            Assert.Equal(ParseStatus.Error, status);
        }
        else
        {
            Assert.Equal(ParseStatus.Command, status);
            Assert.Equal(expected, args);
        }
    }

    [Fact]
    public void Blank_lines_and_empty_multibulk_are_skipped()
    {
        Assert.Equal(ParseStatus.Empty, ParseOne("\r\n").Status);
        Assert.Equal(ParseStatus.Empty, ParseOne("*0\r\n").Status);
        Assert.Equal(ParseStatus.Empty, ParseOne("*-1\r\n").Status);
    }

    [Theory]
    [InlineData("*1048577\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*+1\r\n", "Protocol error: invalid multibulk length")]
    [InlineData("*1\r\n$536870913\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n$x\r\n", "Protocol error: invalid bulk length")]
    [InlineData("*1\r\n:1\r\n", "Protocol error: expected '$', got ':'")]
    public void Refuses_what_redis_refuses(string input, string error)
    {
        var parser = new RequestParser(ProtocolLimits.Default);
        var buf = Encoding.ASCII.GetBytes(input);
        Assert.Equal(ParseStatus.Error, parser.Next(buf, buf.Length, new ArgList()));
        Assert.Equal(error, parser.Error);
    }

    private static (ParseStatus Status, string[] Args) ParseOne(string input)
    {
        var parser = new RequestParser(ProtocolLimits.Default);
        var buf = Encoding.ASCII.GetBytes(input);
        var list = new ArgList();
        var status = parser.Next(buf, buf.Length, list);
        var args = Enumerable.Range(0, list.Count).Select(i => Encoding.ASCII.GetString(buf, list.Offsets[i], list.Lengths[i])).ToArray();
        return (status, args);
    }
}
