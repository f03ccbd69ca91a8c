namespace Basalt.Server.Admin;

/// <summary>
/// Spots a lost wakeup from outside a loop, reading only what the loop already publishes (its parked
/// flag, whether its inbox is empty, its wake count), so the loop's hot path is untouched. One sighting
/// of a parked loop with messages waiting proves nothing: the producer may be about to write the
/// eventfd. The same park (the wake count unchanged) still holding messages at a later health check is
/// a wakeup that was lost.
/// </summary>
internal sealed class LostWakeupWatch
{
    private readonly Lock _lock = new();
    private long _wakes = -1;
    private long _sinceMs;

    /// <summary>
    /// Records one sighting and returns for how long this park has been seen with messages waiting:
    /// 0 when the loop is running, its inbox is empty, or this is the first sighting of this park.
    /// The caller reads <paramref name="wakes"/> last, so a wake after the other two reads shows up as a new park.
    /// </summary>
    public long Observe(bool parked, bool inboxEmpty, long wakes, long nowMs)
    {
        lock (_lock)
        {
            if (!parked || inboxEmpty)
            {
                _wakes = -1;
                return 0;
            }

            if (wakes != _wakes)
            {
                _wakes = wakes;
                _sinceMs = nowMs;
                return 0;
            }

            return nowMs - _sinceMs;
        }
    }
}
