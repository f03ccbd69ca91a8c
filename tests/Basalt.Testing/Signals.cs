using System.Runtime.InteropServices;

namespace Basalt.Testing;

/// <summary>Sends POSIX signals through libc's kill(2), so tests need no `kill` binary (procps is not on minimal images).</summary>
public static partial class Signals
{
    public const int SigTerm = 15;

    /// <summary>Sends SIGTERM to <paramref name="pid"/>; throws if the kernel refuses.</summary>
    public static void Terminate(int pid)
    {
        if (Kill(pid, SigTerm) != 0)
        {
            throw new InvalidOperationException($"kill({pid}, SIGTERM) failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
