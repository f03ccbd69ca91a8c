using System.Runtime.InteropServices;

namespace Basalt.Server.Net;

/// <summary>
/// The few libc calls the shard reactors use: epoll for readiness, eventfd for cross-shard wakes,
/// recv/send on non-blocking sockets, and the loop threads' scheduling policy. Linux only, by design (docs/architecture.md).
/// </summary>
internal static partial class Native
{
    public const int EPOLLIN = 0x001;
    public const int EPOLLOUT = 0x004;
    public const int EPOLLERR = 0x008;
    public const int EPOLLHUP = 0x010;
    public const int EPOLLRDHUP = 0x2000;
    public const uint EPOLLET = 1u << 31;
    public const int EPOLL_CTL_ADD = 1;
    public const int EPOLL_CTL_DEL = 2;
    public const int EPOLL_CTL_MOD = 3;
    public const int EPOLL_CLOEXEC = 0x80000;
    public const int EFD_NONBLOCK = 0x800;
    public const int EFD_CLOEXEC = 0x80000;
    public const int MSG_DONTWAIT = 0x40;
    public const int MSG_NOSIGNAL = 0x4000;
    public const int EAGAIN = 11;
    public const int EINTR = 4;
    public const int SHUT_WR = 1;
    public const int SCHED_OTHER = 0;
    public const int SCHED_BATCH = 3;
    public const int SOL_SOCKET = 1;
    public const int SO_REUSEADDR = 2;
    public const int RLIMIT_NOFILE = 7;

    [StructLayout(LayoutKind.Sequential)]
    public struct RLimit
    {
        public ulong Current;
        public ulong Max;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getrlimit(int resource, out RLimit limit);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setrlimit(int resource, in RLimit limit);

    [StructLayout(LayoutKind.Sequential, Pack = 1)]
    public struct EpollEvent
    {
        public uint Events;
        public ulong Data;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_create1(int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int epoll_ctl(int epfd, int op, int fd, ref EpollEvent ev);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int epoll_wait(int epfd, EpollEvent* events, int maxevents, int timeout);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initval, int flags);

    /// <summary>pid 0 is the calling thread: on Linux the policy is per thread.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sched_setscheduler(int pid, int policy, int* param);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buf, nint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint recv(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint send(int fd, byte* buf, nint len, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int shutdown(int fd, int how);

    [LibraryImport("libc", EntryPoint = "uname", SetLastError = true)]
    private static unsafe partial int UnameRaw(byte* buf);

    /// <summary>
    /// "sysname release machine" from uname(2), as Redis's INFO prints it. Linux's struct utsname is six fields of 65
    /// bytes: sysname, nodename, release, version, machine, domainname.
    /// </summary>
    public static unsafe string Uname()
    {
        const int Field = 65;
        var buf = stackalloc byte[Field * 6];
        if (UnameRaw(buf) != 0)
        {
            return RuntimeInformation.OSDescription;
        }

        string At(int i) => Marshal.PtrToStringUTF8((nint)(buf + (i * Field))) ?? string.Empty;
        return $"{At(0)} {At(2)} {At(4)}";
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    /// <summary>
    /// Makes a rename in <paramref name="dir"/> durable: a renamed file survives a crash only once its
    /// directory entry is on disk. Throws if the fsync fails, so a caller never claims durability it lacks.
    /// </summary>
    public static void FsyncDirectory(string dir)
    {
        const int O_RDONLY = 0;
        var fd = Open(dir, O_RDONLY);
        if (fd < 0)
        {
            throw new IOException($"open({dir}) failed: errno {Marshal.GetLastPInvokeError()}");
        }

        try
        {
            if (fsync(fd) != 0)
            {
                throw new IOException($"fsync({dir}) failed: errno {Marshal.GetLastPInvokeError()}");
            }
        }
        finally
        {
            _ = close(fd);
        }
    }
}
