using System.Runtime.InteropServices;
using Basalt.Server.Net;

namespace Basalt.Server;

/// <summary>
/// Fits maxclients to the process's open files limit, as Redis does: every client is a descriptor, so a
/// maxclients the limit cannot hold would end in accept() failing with EMFILE instead of a clear
/// "max number of clients reached". The soft limit is raised towards what maxclients needs (never past the
/// hard limit); if that is still short, maxclients is lowered to what fits.
/// </summary>
public static class OpenFilesLimit
{
    /// <summary>Connections the admin HTTP port may hold at once (Kestrel refuses more).</summary>
    public const int AdminConnections = 32;

    /// <summary>Room for what the process opens after startup: assemblies loaded on first use, config rewrites.</summary>
    public const int Margin = 64;

    /// <summary>
    /// Descriptors a started server holds before any client, as measured: 157 after startup, 179 once every port and
    /// a CONFIG REWRITE have been used, 152 of them assembly files the runtime keeps open.
    /// </summary>
    public const int RuntimeEstimate = 192;

    /// <summary>The least limit the process can start under with <paramref name="shards"/> loops and one client, checked before starting.</summary>
    public static ulong StartupFloor(int shards) => (ulong)(RuntimeEstimate + AdminConnections + Margin + (2 * shards) + 1);

    /// <summary>Raises the soft limit towards <paramref name="wanted"/> (up to the hard limit) and returns the limit in force.</summary>
    public static ulong Raise(ulong wanted)
    {
        if (Native.getrlimit(Native.RLIMIT_NOFILE, out var limit) != 0)
        {
            throw new InvalidOperationException($"getrlimit(RLIMIT_NOFILE) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        if (limit.Current < wanted)
        {
            var raised = new Native.RLimit { Current = Math.Min(wanted, limit.Max), Max = limit.Max };
            if (Native.setrlimit(Native.RLIMIT_NOFILE, raised) == 0)
            {
                return raised.Current;
            }
        }

        return limit.Current;
    }

    /// <summary>What the process holds now plus what it keeps room for besides clients.</summary>
    public static ulong Reserved() => (ulong)(Directory.GetFiles("/proc/self/fd").Length + AdminConnections + Margin);

    /// <summary>The limit in force, what <paramref name="maxClients"/> needs, and the maxclients that fits (below 1: none).</summary>
    public readonly record struct Fit(int MaxClients, ulong Limit, ulong Needed);

    /// <summary>Raises the limit for <paramref name="maxClients"/> clients, then says how many fit.</summary>
    public static Fit For(int maxClients)
    {
        var reserved = Reserved();
        var needed = (ulong)maxClients + reserved;
        var limit = Raise(needed);
        var fits = limit >= needed ? maxClients : (int)((long)limit - (long)reserved);
        return new Fit(fits, limit, needed);
    }
}
