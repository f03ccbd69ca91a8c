using System.Diagnostics;
using System.Text;
using System.Text.RegularExpressions;

namespace Basalt.Testing;

/// <summary>
/// A real server process on a loopback port: basalt-server (started with --port 0, the port read
/// from its banner) or redis-server (the differential oracle). Killed on dispose.
/// </summary>
public sealed partial class ServerProcess : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _log = new();

    private ServerProcess(Process process, int port)
    {
        _process = process;
        Port = port;
    }

    private int _pid;

    /// <summary>The data dir this fixture made up for the server (Defaults); removed on dispose.</summary>
    private string? _dataDir;

    public int Port { get; private set; }

    public int Pid => _pid != 0 ? _pid : (_pid = _process.Id);

    public bool HasExited => _process.HasExited;

    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>
    /// Starts basalt-server with extra args (e.g. "--shards", "4") and waits until it accepts. The admin
    /// HTTP port is off unless the args turn it on (tests run many servers at once).
    /// </summary>
    public static ServerProcess StartBasalt(params string[] args) => StartBasalt(new BasaltStart(args));

    /// <summary>Starts basalt-server as <paramref name="start"/> says and waits for its ready line.</summary>
    public static ServerProcess StartBasalt(BasaltStart start)
    {
        if (!File.Exists(RepoPaths.ServerDll))
        {
            throw new FileNotFoundException("build the server first", RepoPaths.ServerDll);
        }

        var all = new List<string> { RepoPaths.ServerDll };
        string? dataDir = null;
        if (start.ConfigFile is not null)
        {
            all.Add(start.ConfigFile);
        }

        if (start.Defaults)
        {
            dataDir = Path.Combine(Path.GetTempPath(), "basalt-test-" + Guid.NewGuid().ToString("N"));
            all.AddRange(["--port", "0", "--dir", dataDir, "--admin-port", "0", "--shutdown-readiness-delay", "0"]);
        }

        all.AddRange(start.Args);
        if (start.OpenFilesLimit is { } files)
        {
            // util-linux's prlimit sets RLIMIT_NOFILE (soft and hard) for the process it runs.
            all.InsertRange(0, [$"--nofile={files}:{files}", "dotnet"]);
        }

        try
        {
            var server = Start(start.OpenFilesLimit is null ? "dotnet" : "prlimit", all, BannerPort(), start.ReadyLine, start.Environment, start.Stdin, start.WorkingDirectory);
            server._dataDir = dataDir;
            return server;
        }
        catch
        {
            DeleteDataDir(dataDir);
            throw;
        }
    }

    private static void DeleteDataDir(string? dir)
    {
        if (dir is not null && Directory.Exists(dir))
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    /// <summary>Writes one line to the server's stdin (only when started with Stdin = true).</summary>
    public void WriteLine(string line)
    {
        _process.StandardInput.WriteLine(line);
        _process.StandardInput.Flush();
    }

    /// <summary>Blocks until a line containing <paramref name="text"/> has been logged, or the timeout passes.</summary>
    public bool WaitForLog(string text, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_log)
        {
            while (!_log.ToString().Contains(text, StringComparison.Ordinal))
            {
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || !Monitor.Wait(_log, left))
                {
                    return _log.ToString().Contains(text, StringComparison.Ordinal);
                }
            }

            return true;
        }
    }

    public int ExitCode => _process.ExitCode;

    /// <summary>
    /// Starts Debian's redis-server 7.0 on a free port, with persistence off. A first argument that is not a flag is a
    /// config file, which redis-server takes only in first place; the flags after it win over it.
    /// </summary>
    public static ServerProcess StartRedis(params string[] args)
    {
        var port = FreePort();
        var all = new List<string>();
        if (args.Length > 0 && !args[0].StartsWith("--", StringComparison.Ordinal))
        {
            all.Add(args[0]);
            args = args[1..];
        }

        all.AddRange(["--port", port.ToString(System.Globalization.CultureInfo.InvariantCulture), "--save", string.Empty, "--appendonly", "no", "--bind", "127.0.0.1"]);
        all.AddRange(args);
        var p = Start(RedisServerPath(), all, null, "Ready to accept connections");
        p.Port = port;
        return p;
    }

    public static string RedisServerPath() =>
        File.Exists("/usr/bin/redis-server") ? "/usr/bin/redis-server" : throw new InvalidOperationException("redis-server is not installed (run the README's test command, which installs it)");

    public RespConnection Connect() => new(Port);

    /// <summary>The CPU time the process has used, utime + stime in clock ticks (fields 14 and 15 of /proc/[pid]/stat).</summary>
    public long CpuTicks()
    {
        var stat = File.ReadAllText($"/proc/{Pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], System.Globalization.CultureInfo.InvariantCulture) + long.Parse(fields[12], System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Sends SIGKILL, as a crash would.</summary>
    public void Kill()
    {
        if (!_process.HasExited)
        {
            _process.Kill(entireProcessTree: true);
            _process.WaitForExit(10_000);
        }
    }

    /// <summary>Sends SIGTERM and waits for the exit code.</summary>
    public int Terminate(TimeSpan timeout)
    {
        Signals.Terminate(_process.Id);
        if (!_process.WaitForExit((int)timeout.TotalMilliseconds))
        {
            Kill();
            throw new TimeoutException("server did not exit after SIGTERM");
        }

        // The timed wait can return before the last lines of output reach the log; the untimed one waits for them.
        _process.WaitForExit();
        return _process.ExitCode;
    }

    public bool WaitForExit(TimeSpan timeout)
    {
        if (!_process.WaitForExit((int)timeout.TotalMilliseconds))
        {
            return false;
        }

        _process.WaitForExit(); // drains the output handlers, as above
        return true;
    }

    public void Dispose()
    {
        Kill();
        _process.Dispose();

        // BASALT_TEST_LOG_DIR=dir keeps every server's log, to look for internal errors after a run.
        if (Environment.GetEnvironmentVariable("BASALT_TEST_LOG_DIR") is { Length: > 0 } dir)
        {
            Directory.CreateDirectory(dir);
            File.WriteAllText(Path.Combine(dir, $"server-{Pid}.log"), Log);
        }

        DeleteDataDir(_dataDir);
    }

    private static ServerProcess Start(string file, List<string> args, Regex? portPattern, string readyLine, IReadOnlyDictionary<string, string>? environment = null, bool stdin = false, string? workingDirectory = null)
    {
        var psi = new ProcessStartInfo(file)
        {
            RedirectStandardError = true,
            RedirectStandardOutput = true,
            RedirectStandardInput = stdin,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? string.Empty,
        };
        foreach (var (k, v) in environment ?? new Dictionary<string, string>())
        {
            psi.Environment[k] = v;
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        var process = new Process { StartInfo = psi };
        var ready = new ReadySignal();
        var server = new ServerProcess(process, 0);
        void OnLine(string? line)
        {
            if (line is null)
            {
                ready.Fail($"{file} exited before it was ready:\n{server.Log}");
                return;
            }

            lock (server._log)
            {
                server._log.AppendLine(line);
                Monitor.PulseAll(server._log);
            }

            if (portPattern?.Match(line) is { Success: true } m)
            {
                server.Port = int.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            }

            if (line.Contains(readyLine, StringComparison.Ordinal))
            {
                ready.Succeed();
            }
        }

        process.ErrorDataReceived += (_, e) => OnLine(e.Data);
        process.OutputDataReceived += (_, e) => OnLine(e.Data);
        process.Start();
        _ = server.Pid;
        process.BeginErrorReadLine();
        process.BeginOutputReadLine();
        if (!ready.Wait(TimeSpan.FromSeconds(60), out var failure))
        {
            server.Dispose();
            throw new TimeoutException($"{file} did not become ready:\n{server.Log}");
        }

        if (failure is not null)
        {
            server.Dispose();
            throw new InvalidOperationException(failure);
        }

        return server;
    }

    /// <summary>A loopback port free right now (another process could take it before it is used).</summary>
    public static int FreePort()
    {
        using var l = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        l.Start();
        return ((System.Net.IPEndPoint)l.LocalEndpoint).Port;
    }

    /// <summary>Set once by the output reader: ready, or failed with a reason.</summary>
    private sealed class ReadySignal
    {
        private readonly ManualResetEventSlim _event = new();
        private string? _failure;

        public void Succeed() => _event.Set();

        public void Fail(string why)
        {
            _failure ??= why;
            _event.Set();
        }

        public bool Wait(TimeSpan timeout, out string? failure)
        {
            var ok = _event.Wait(timeout);
            failure = _failure;
            return ok;
        }
    }

    [GeneratedRegex(@" port=(\d+) ")]
    private static partial Regex BannerPort();
}

/// <summary>How to start basalt-server: extra args, a config file, environment, stdin, and the line that means "started".</summary>
public sealed record BasaltStart(params string[] Args)
{
    public string? ConfigFile { get; init; }

    /// <summary>
    /// Adds the test defaults first (--port 0, a temp --dir, --admin-port 0, --shutdown-readiness-delay 0:
    /// no load balancer watches a test server); later args override them.
    /// </summary>
    public bool Defaults { get; init; } = true;

    public IReadOnlyDictionary<string, string>? Environment { get; init; }

    public bool Stdin { get; init; }

    /// <summary>The server's working directory (relative paths in its config resolve against it); the test's own when null.</summary>
    public string? WorkingDirectory { get; init; }

    /// <summary>The open files limit (soft and hard) to start the server under; the inherited one when null.</summary>
    public int? OpenFilesLimit { get; init; }

    public string ReadyLine { get; init; } = "Ready to accept connections";
}
