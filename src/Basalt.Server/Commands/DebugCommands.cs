using System.Net;
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
    public static void Debug(Connection c, ArgView a, CommandSpec spec)
    {
        if (!Allowed(c))
        {
            c.Output.Error("ERR DEBUG command not allowed. If the enable-debug-command option is set to \"local\", you can run it from a local connection, otherwise you need to set this option in the configuration file, and then restart the server.");
            return;
        }

        var sub = Encoding.UTF8.GetString(a[1]).ToLowerInvariant();
        if (sub == "sleep" && a.Count == 3)
        {
            if (!Numbers.TryParseDouble(a[2], out var seconds) || double.IsNaN(seconds))
            {
                c.Output.Error(Engine.Errors.NotFloat);
                return;
            }

            // Deliberately blocks this loop (Redis does the same to its only thread). Bounded by the caller's value,
            // clamped to an hour so a typo can't wedge a shard forever.
            Thread.Sleep(TimeSpan.FromSeconds(Math.Clamp(seconds, 0, 3600)));
            c.Output.Ok();
            return;
        }

        c.Output.Error($"ERR unknown subcommand '{Encoding.UTF8.GetString(a[1])}'. Try DEBUG HELP.");
    }

    private static bool Allowed(Connection c) => c.Loop.Server.Config.DebugCommand switch
    {
        DebugCommandMode.Yes => true,
        DebugCommandMode.Local => c.RemoteEndPoint is { } ep && IPAddress.IsLoopback(ep.Address),
        _ => false,
    };
}
