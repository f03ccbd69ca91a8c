using System.Text;
using Basalt.Engine.Commands;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using Basalt.Server.Shards;

namespace Basalt.Server.Commands;

/// <summary>
/// DEBUG, gated like Redis 7 by enable-debug-command (no | yes | local). Only SLEEP exists: it blocks
/// the connection's own loop, which is how tests wedge a shard to watch /healthz turn 503.
/// </summary>
internal static class DebugCommands
{
    public const string NotAllowed = "ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.";

    /// <summary>Runs DEBUG; the router has already refused it where enable-debug-command doesn't allow it (<see cref="Allowed"/>).</summary>
    public static void Debug(Connection c, ArgView a, CommandSpec spec)
    {

        var sub = Encoding.UTF8.GetString(a[1]).ToLowerInvariant();
        if (sub == "sleep" && a.Count == 3)
        {
            // Deliberately blocks this loop (Redis does the same to its only thread). Bounded by the caller's value,
            // clamped to an hour so a typo can't wedge a shard forever.
            Thread.Sleep(TimeSpan.FromSeconds(Math.Clamp(StrtodPrefix(a[2]), 0, 3600)));
            c.Output.Ok();
            return;
        }

        new ErrorText().Add("ERR unknown subcommand or wrong number of arguments for '").Add(a[1], 128).Add("'. Try DEBUG HELP.").WriteTo(c.Output);
    }

    /// <summary>
    /// Redis reads DEBUG SLEEP's time with strtod and no error check: the longest number at the start (after spaces),
    /// decimal or 0x hex, and 0 when there is none ("abc", ""). NaN counts as 0.
    /// </summary>
    internal static double StrtodPrefix(ReadOnlySpan<byte> text)
    {
        var i = 0;
        while (i < text.Length && text[i] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r')
        {
            i++;
        }

        var start = i;
        if (i < text.Length && text[i] is (byte)'+' or (byte)'-')
        {
            i++;
        }

        if (i + 1 < text.Length && text[i] == '0' && (text[i + 1] | 0x20) == 'x')
        {
            var j = i + 2;
            double hex = 0;
            while (j < text.Length && char.IsAsciiHexDigit((char)text[j]))
            {
                hex = (hex * 16) + Convert.ToInt32(((char)text[j]).ToString(), 16);
                j++;
            }

            return j == i + 2 ? 0 : text[start] == '-' ? -hex : hex;
        }

        var digits = i;
        while (i < text.Length && char.IsAsciiDigit((char)text[i]))
        {
            i++;
        }

        if (i < text.Length && text[i] == '.')
        {
            i++;
            while (i < text.Length && char.IsAsciiDigit((char)text[i]))
            {
                i++;
            }
        }

        if (i == digits || (i == digits + 1 && text[digits] == '.'))
        {
            return 0;
        }

        var end = i;
        if (i < text.Length && (text[i] | 0x20) == 'e')
        {
            var k = i + 1;
            if (k < text.Length && text[k] is (byte)'+' or (byte)'-')
            {
                k++;
            }

            var expDigits = k;
            while (k < text.Length && char.IsAsciiDigit((char)text[k]))
            {
                k++;
            }

            if (k > expDigits)
            {
                end = k;
            }
        }

        var value = double.Parse(Encoding.ASCII.GetString(text[start..end]), System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture);
        return double.IsNaN(value) ? 0 : value;
    }

    public static bool Allowed(Connection c) => c.Loop.Server.Config.DebugCommand switch
    {
        DebugCommandMode.Yes => true,
        DebugCommandMode.Local => c.RemoteEndPoint is { } ep && BasaltServer.IsLocalAddress(ep.Address),
        _ => false,
    };
}
