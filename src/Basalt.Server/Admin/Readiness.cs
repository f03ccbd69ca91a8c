using System.Text;
using System.Text.Json;

namespace Basalt.Server.Admin;

/// <summary>
/// The readiness gates, in the order they must be set: each names one promise the server keeps once
/// it holds (config parsed, every shard's storage recovered, the RESP listener bound). A gate is set
/// once and only after the gates before it, so "ready" can't be claimed out of order. Shutdown turns
/// readiness off again before the listener closes, so load balancers drain first.
/// </summary>
public sealed class Readiness
{
    public static readonly string[] Gates = ["config", "storage", "listener"];

    private readonly bool[] _set = new bool[Gates.Length];
    private readonly Lock _gate = new();
    private volatile bool _stopping;

    public event Action<string>? GateSet;

    public bool IsReady
    {
        get
        {
            lock (_gate)
            {
                return !_stopping && Array.TrueForAll(_set, s => s);
            }
        }
    }

    public bool IsStopping => _stopping;

    public bool IsSet(string gate)
    {
        lock (_gate)
        {
            return _set[IndexOf(gate)];
        }
    }

    /// <summary>Sets a gate; throws if it is already set or a gate before it is not (a startup-order bug).</summary>
    public void Set(string gate)
    {
        var i = IndexOf(gate);
        lock (_gate)
        {
            if (_set[i])
            {
                throw new InvalidOperationException($"readiness gate '{gate}' set twice");
            }

            if (i > 0 && !_set[i - 1])
            {
                throw new InvalidOperationException($"readiness gate '{gate}' set before '{Gates[i - 1]}'");
            }

            _set[i] = true;
        }

        GateSet?.Invoke(gate);
    }

    public void BeginShutdown() => _stopping = true;

    /// <summary>The /readyz body: status, every gate in order, and while not ready, how long to wait before asking again.</summary>
    public string ToJson(int retryAfterSeconds)
    {
        bool[] snapshot;
        lock (_gate)
        {
            snapshot = (bool[])_set.Clone();
        }

        var ready = !_stopping && Array.TrueForAll(snapshot, s => s);
        using var ms = new MemoryStream();
        using (var w = new Utf8JsonWriter(ms))
        {
            w.WriteStartObject();
            w.WriteString("status", ready ? "ready" : _stopping ? "stopping" : "starting");
            w.WriteStartObject("gates");
            for (var i = 0; i < Gates.Length; i++)
            {
                w.WriteBoolean(Gates[i], snapshot[i]);
            }

            w.WriteEndObject();
            if (!ready)
            {
                w.WriteNumber("retry_after_s", retryAfterSeconds);
            }

            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(ms.ToArray());
    }

    private static int IndexOf(string gate)
    {
        var i = Array.IndexOf(Gates, gate);
        return i >= 0 ? i : throw new ArgumentException($"no readiness gate '{gate}'", nameof(gate));
    }
}
