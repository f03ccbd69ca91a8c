using Basalt.Server.Shards;

namespace Basalt.Server.Tests;

/// <summary>The loop's per-connection deadlines: earliest first, closed connections' deadlines skipped and compacted away.</summary>
public sealed class ConnectionDeadlinesTests
{
    [Fact]
    public void Deadlines_come_due_in_order_and_only_once_due()
    {
        var d = new ConnectionDeadlines<Conn>(static c => c.Closed);
        var a = new Conn("a");
        var b = new Conn("b");
        var c = new Conn("c");
        d.Add(b, ConnectionTimer.Trim, 300);
        d.Add(a, ConnectionTimer.Linger, 100);
        d.Add(c, ConnectionTimer.OutputLimit, 200);

        Assert.True(d.TryPeekDue(out var first));
        Assert.Equal(100, first);
        Assert.False(d.TryTakeDue(99, out _, out _));

        var taken = new List<(string, ConnectionTimer)>();
        while (d.TryTakeDue(250, out var conn, out var kind))
        {
            taken.Add((conn.Name, kind));
        }

        Assert.Equal([("a", ConnectionTimer.Linger), ("c", ConnectionTimer.OutputLimit)], taken);
        Assert.True(d.TryPeekDue(out var next));
        Assert.Equal(300, next);
    }

    [Fact]
    public void A_closed_connections_deadlines_are_skipped()
    {
        var d = new ConnectionDeadlines<Conn>(static c => c.Closed);
        var gone = new Conn("gone");
        var open = new Conn("open");
        d.Add(gone, ConnectionTimer.Linger, 10);
        d.Add(open, ConnectionTimer.Trim, 20);
        gone.Closed = true;
        d.AddStale(1);

        Assert.True(d.TryTakeDue(1000, out var conn, out var kind));
        Assert.Same(open, conn);
        Assert.Equal(ConnectionTimer.Trim, kind);
        Assert.False(d.TryTakeDue(1000, out _, out _));
        Assert.Equal(0, d.Count);
    }

    [Fact]
    public void Closed_connections_deadlines_are_dropped_once_they_are_over_half_the_heap()
    {
        // Deadlines far off (a soft output limit of minutes): nothing comes due to drop them on the way.
        var d = new ConnectionDeadlines<Conn>(static c => c.Closed);
        var conns = new List<Conn>();
        for (var i = 0; i < 1000; i++)
        {
            var c = new Conn("c" + i);
            conns.Add(c);
            d.Add(c, ConnectionTimer.OutputLimit, 1_000_000 + i);
        }

        // 400 closed: under half the heap, left where they are.
        for (var i = 0; i < 400; i++)
        {
            conns[i].Closed = true;
            d.AddStale(1);
        }

        d.CompactIfStale();
        Assert.Equal(1000, d.Count);

        // 601 closed: more than half, so the heap is rebuilt with the 399 open ones, still in order.
        for (var i = 400; i < 601; i++)
        {
            conns[i].Closed = true;
            d.AddStale(1);
        }

        d.CompactIfStale();
        Assert.Equal(399, d.Count);
        Assert.True(d.TryPeekDue(out var due));
        Assert.Equal(1_000_601, due);

        // The count starts again from the rebuild: a few more closes don't rebuild the heap again.
        conns[601].Closed = true;
        d.AddStale(1);
        d.CompactIfStale();
        Assert.Equal(399, d.Count);
    }

    [Fact]
    public void A_few_stale_deadlines_never_cause_a_rebuild()
    {
        var d = new ConnectionDeadlines<Conn>(static c => c.Closed);
        var c = new Conn("only");
        d.Add(c, ConnectionTimer.Trim, 5);
        c.Closed = true;
        d.AddStale(1);
        d.CompactIfStale();
        Assert.Equal(1, d.Count);
    }

    private sealed class Conn(string name)
    {
        public string Name { get; } = name;

        public bool Closed { get; set; }
    }
}
