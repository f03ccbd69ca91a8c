using Basalt.Server.Admin;

namespace Basalt.Server.Tests.Operations;

/// <summary>How /healthz tells a lost wakeup from a message a producer is about to wake the loop for.</summary>
public sealed class LostWakeupWatchTests
{
    [Fact]
    public void One_park_seen_twice_with_messages_waiting_reports_the_time_between_sightings()
    {
        var watch = new LostWakeupWatch();

        Assert.Equal(0, watch.Observe(parked: true, inboxEmpty: false, wakes: 7, nowMs: 1_000));
        Assert.Equal(6_000, watch.Observe(parked: true, inboxEmpty: false, wakes: 7, nowMs: 7_000));
    }

    [Fact]
    public void A_wake_between_sightings_starts_the_count_again()
    {
        var watch = new LostWakeupWatch();
        watch.Observe(parked: true, inboxEmpty: false, wakes: 7, nowMs: 1_000);

        Assert.Equal(0, watch.Observe(parked: true, inboxEmpty: false, wakes: 8, nowMs: 7_000));
        Assert.Equal(2_000, watch.Observe(parked: true, inboxEmpty: false, wakes: 8, nowMs: 9_000));
    }

    [Theory]
    [InlineData(true, true)]
    [InlineData(false, false)]
    public void A_sighting_with_an_empty_inbox_or_a_running_loop_clears_the_suspicion(bool parked, bool inboxEmpty)
    {
        var watch = new LostWakeupWatch();
        watch.Observe(parked: true, inboxEmpty: false, wakes: 7, nowMs: 1_000);

        Assert.Equal(0, watch.Observe(parked, inboxEmpty, wakes: 7, nowMs: 2_000));
        Assert.Equal(0, watch.Observe(parked: true, inboxEmpty: false, wakes: 7, nowMs: 9_000));
    }
}
