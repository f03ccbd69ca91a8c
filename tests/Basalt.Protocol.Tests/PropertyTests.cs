using System.Text;
using Basalt.Protocol;
using FsCheck;
using FsCheck.Fluent;

namespace Basalt.Protocol.Tests;

/// <summary>FsCheck properties: write→read round trips, and hostile bytes only ever yield protocol errors.</summary>
public sealed class PropertyTests
{
    private static readonly Config Runs = Config.QuickThrowOnFailure.WithMaxTest(500);

    [Fact]
    public void Any_command_encoded_as_multibulk_parses_back_to_the_same_args()
    {
        Prop.ForAll<IList<byte[]>>(Arb.From(Gen.ListOf(ArgGen()).Where(l => l.Count > 0).Select(l => (IList<byte[]>)l.ToList())), (Func<IList<byte[]>, bool>)(args =>
        {
            var list = args.ToList();
            var frame = RespRequest.Encode(list);
            var parser = new RequestParser(ProtocolLimits.Default);
            var parsed = new ArgList();
            var ok = parser.Next(frame, frame.Length, parsed) == ParseStatus.Command && parser.Position == frame.Length && parsed.Count == list.Count;
            for (var i = 0; ok && i < list.Count; i++)
            {
                ok = frame.AsSpan(parsed.Offsets[i], parsed.Lengths[i]).SequenceEqual(list[i]);
            }

            return ok;
        })).Check(Runs);
    }

    [Fact]
    public void Any_reply_value_written_reads_back_equal()
    {
        Prop.ForAll<RespValue>(Arb.From(ValueGen(3)), (Func<RespValue, bool>)(v =>
        {
            using var buffer = new ReplyBuffer();
            RespValueWriter.Write(v, buffer);
            return RespValueReader.TryRead(buffer.WrittenSpan, out var back, out var used)
                && used == buffer.Length && v.Equals(back);
        })).Check(Runs);
    }

    [Fact]
    public void Random_bytes_yield_commands_incomplete_or_a_protocol_error_never_an_exception()
    {
        Prop.ForAll<byte[]>(Arb.From(Gen.ArrayOf(Gen.Elements<byte>((byte)'*', (byte)'$', (byte)'\r', (byte)'\n', (byte)'1', (byte)'0', (byte)'-', (byte)' ', (byte)'"', (byte)'a', 0, 255))), (Func<byte[], bool>)(bytes =>
        {
            var parser = new RequestParser(new ProtocolLimits { MaxInlineLength = 64 });
            var list = new ArgList();
            for (var guard = 0; guard < bytes.Length + 2; guard++)
            {
                var status = parser.Next(bytes, bytes.Length, list);
                if (status == ParseStatus.Error)
                {
                    return parser.Error!.StartsWith("Protocol error: ", StringComparison.Ordinal);
                }

                if (status == ParseStatus.Incomplete)
                {
                    return true;
                }

                foreach (var i in Enumerable.Range(0, list.Count))
                {
                    if (list.Offsets[i] < 0 || list.Offsets[i] + list.Lengths[i] > bytes.Length)
                    {
                        return false;
                    }
                }
            }

            return false;
        })).Check(Runs);
    }

    [Fact]
    public void Random_bytes_fed_to_the_value_reader_throw_only_format_errors()
    {
        Prop.ForAll<byte[]>(Arb.From(Gen.ArrayOf(Gen.Elements<byte>((byte)'*', (byte)'$', (byte)'%', (byte)'#', (byte)'\r', (byte)'\n', (byte)'1', (byte)'-', (byte)'t', (byte)'_'))), (Func<byte[], bool>)(bytes =>
        {
            try
            {
                RespValueReader.TryRead(bytes, out _, out var used);
                return used <= bytes.Length;
            }
            catch (RespValueReader.FormatError)
            {
                return true;
            }
        })).Check(Runs);
    }

    private static Gen<byte[]> ArgGen() => Gen.ArrayOf(Gen.Choose(0, 255).Select(i => (byte)i));

    private static Gen<RespValue> ValueGen(int depth)
    {
        var text = Gen.ArrayOf(Gen.Elements("abcXYZ 09:_-".ToCharArray())).Select(c => Encoding.ASCII.GetBytes(new string(c)));
        var leaves = Gen.OneOf(
            text.Select(b => new RespValue { Type = RespType.SimpleString, Bytes = b }),
            text.Select(b => new RespValue { Type = RespType.Error, Bytes = b }),
            ArgGen().Select(b => new RespValue { Type = RespType.BulkString, Bytes = b }),
            Gen.Choose(int.MinValue, int.MaxValue).Select(i => new RespValue { Type = RespType.Integer, Integer = i * 3L }),
            Gen.Constant(new RespValue { Type = RespType.Null, IsNull = true }),
            Gen.Constant(new RespValue { Type = RespType.BulkString, IsNull = true }),
            Gen.Constant(new RespValue { Type = RespType.Array, IsNull = true }),
            Gen.Elements(0L, 1L).Select(b => new RespValue { Type = RespType.Boolean, Integer = b }),
            Gen.Elements("1.5", "inf", "-0", "3").Select(d => new RespValue { Type = RespType.Double, Bytes = Encoding.ASCII.GetBytes(d) }));
        if (depth == 0)
        {
            return leaves;
        }

        var child = ValueGen(depth - 1);
        var items = Gen.ListOf(child).Select(l => (IReadOnlyList<RespValue>)l.ToList());
        return Gen.OneOf(
            leaves,
            leaves,
            items.Select(l => new RespValue { Type = RespType.Array, Items = l }),
            items.Select(l => new RespValue { Type = RespType.Set, Items = l }),
            items.Select(l => new RespValue { Type = RespType.Push, Items = l }),
            items.Select(l => new RespValue { Type = RespType.Map, Items = l.Count % 2 == 0 ? l : l.Skip(1).ToList() }));
    }
}
