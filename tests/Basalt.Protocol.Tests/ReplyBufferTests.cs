using System.Text;
using Basalt.Protocol;

namespace Basalt.Protocol.Tests;

public sealed class ReplyBufferTests
{
    [Theory]
    [InlineData(2, "$-1\r\n*-1\r\n*4\r\n~2\r\n:1\r\n$3\r\n1.5\r\n")]
    [InlineData(3, "_\r\n_\r\n%2\r\n~2\r\n#t\r\n,1.5\r\n")]
    public void Protocol_version_picks_the_wire_types(int protocol, string expected)
    {
        using var o = new ReplyBuffer { Protocol = protocol };
        o.NullBulk();
        o.NullArray();
        o.MapHeader(2);
        o.SetHeader(2);
        o.Boolean(true);
        o.Double(1.5);
        Assert.Equal(expected.Replace("~2", protocol == 2 ? "*2" : "~2", StringComparison.Ordinal), Encoding.ASCII.GetString(o.WrittenSpan));
    }

    [Fact]
    public void Verbatim_is_a_bulk_string_in_resp2()
    {
        using var two = new ReplyBuffer { Protocol = 2 };
        two.Verbatim("hi"u8);
        Assert.Equal("$2\r\nhi\r\n", Encoding.ASCII.GetString(two.WrittenSpan));
        using var three = new ReplyBuffer { Protocol = 3 };
        three.Verbatim("hi"u8);
        Assert.Equal("=6\r\ntxt:hi\r\n", Encoding.ASCII.GetString(three.WrittenSpan));
    }

    [Fact]
    public void Grows_past_its_first_buffer()
    {
        using var o = new ReplyBuffer(16);
        var big = new byte[100_000];
        o.Bulk(big);
        Assert.Equal(100_000 + 11, o.Length);
    }

    [Fact]
    public void A_write_past_the_limit_throws_keeps_what_was_written_and_marks_the_buffer_until_cleared()
    {
        using var o = new ReplyBuffer(16) { Limit = 1000 };
        o.Bulk(new byte[500]);
        var written = o.Length;
        Assert.Throws<OutputLimitException>(() => o.Bulk(new byte[600]));
        Assert.Equal(written, o.Length);
        Assert.True(o.Overflowed);
        o.Clear();
        Assert.False(o.Overflowed);

        // A limit below a capacity the buffer already has still holds: the fast path stops at the limit, not the capacity.
        o.Limit = int.MaxValue;
        o.WriteRaw(new byte[100_000]);
        o.Clear();
        o.Limit = 1000;
        Assert.True(o.Capacity > 1000);
        o.WriteRaw(new byte[1000]);
        Assert.Throws<OutputLimitException>(() => o.WriteRaw(new byte[1]));
        Assert.Equal(1000, o.Length);
    }

    [Fact]
    public void Past_the_pooled_size_it_moves_to_a_mapping_keeping_every_byte_and_gives_it_up_when_shrunk()
    {
        // 1 MB is the largest pooled array: the buffer then lives in an anonymous mapping, remapped as it grows.
        using var o = new ReplyBuffer(16);
        var expected = new List<byte>();
        for (var i = 0; i < 40; i++)
        {
            var chunk = new byte[100_000 + i];
            Array.Fill(chunk, (byte)('a' + (i % 26)));
            o.WriteRaw(chunk);
            expected.AddRange(chunk);
        }

        Assert.True(o.Capacity > BufferPool.MaxPooled);
        Assert.Equal(expected.ToArray(), o.WrittenSpan.ToArray());

        // Dropping sent bytes from the front moves the rest down within the mapping.
        o.Consume(1_500_000);
        Assert.Equal(expected.Skip(1_500_000).ToArray(), o.WrittenSpan.ToArray());

        // Not given up while it holds replies; given up (back to a small pooled array) once empty.
        o.Shrink(1024 * 1024);
        Assert.True(o.Capacity > BufferPool.MaxPooled);
        o.Clear();
        o.Shrink(1024 * 1024);
        Assert.True(o.Capacity <= BufferPool.MaxPooled);
        o.Ok();
        Assert.Equal("+OK\r\n", Encoding.ASCII.GetString(o.WrittenSpan));
    }

    [Fact]
    public void Mapped_bytes_count_in_used_memory_while_the_mapping_lives()
    {
        // Reply buffers past 1 MB live outside the managed heap: INFO used_memory would not see a 256 MB backlog.
        var before = BufferPool.MappedBytes;
        var o = new ReplyBuffer(16);
        o.WriteRaw(new byte[3 * 1024 * 1024]);
        Assert.True(BufferPool.MappedBytes - before >= 3 * 1024 * 1024, $"mapped {BufferPool.MappedBytes - before} bytes more");
        o.WriteRaw(new byte[3 * 1024 * 1024]);
        Assert.True(BufferPool.MappedBytes - before >= 6 * 1024 * 1024, $"mapped {BufferPool.MappedBytes - before} bytes more after growing");
        o.Dispose();
        Assert.Equal(before, BufferPool.MappedBytes);
    }

    [Fact]
    public void A_size_that_overflowed_on_its_way_is_refused_not_passed_as_room()
    {
        // A value near 2 GB plus its header's bytes wraps int: the negative size passed the room check, and the write
        // failed later with an unrelated error.
        using var o = new ReplyBuffer(16);
        o.Ok();
        var nearly2Gb = int.MaxValue - 2;
        Assert.Throws<BufferAllocationException>(() => o.GetSpan(unchecked(nearly2Gb + 24)));
        Assert.Throws<BufferAllocationException>(() => o.GetSpan(int.MaxValue));
        Assert.Equal("+OK\r\n", Encoding.ASCII.GetString(o.WrittenSpan));
    }
}
