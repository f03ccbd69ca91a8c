namespace Basalt.Server;

public enum LogLevel
{
    Debug,
    Verbose,
    Notice,
    Warning,
}

/// <summary>Redis-style log lines to stderr: "pid:role timestamp level message".</summary>
public sealed class Log(LogLevel level)
{
    private static readonly object Gate = new();

    public LogLevel Level { get; set; } = level;

    public void Debug(string message) => Write(LogLevel.Debug, '.', message);

    public void Info(string message) => Write(LogLevel.Notice, '*', message);

    public void Warning(string message) => Write(LogLevel.Warning, '#', message);

    public void Error(string message) => Write(LogLevel.Warning, '#', message);

    private void Write(LogLevel l, char mark, string message)
    {
        if (l < Level)
        {
            return;
        }

        var line = $"{Environment.ProcessId}:M {DateTime.UtcNow:dd MMM yyyy HH:mm:ss.fff} {mark} {message}";

        // Log lines are rare (startup, errors); the lock keeps lines whole and is never held across an await.
        lock (Gate)
        {
            Console.Error.WriteLine(line);
        }
    }
}
