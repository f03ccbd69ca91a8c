using System.Buffers.Text;
using System.Numerics;
using Basalt.Engine.Keyspace;
using Basalt.Protocol;
using static Basalt.Engine.Commands.Syntax;

namespace Basalt.Engine.Commands;

/// <summary>Commands over a whole keyspace: KEYS SCAN RANDOMKEY DBSIZE FLUSHDB FLUSHALL SWAPDB.</summary>
public static class KeyspaceOps
{
    public static void Register(CommandTable t)
    {
        Global(t, "keys", 2, CommandFlags.ReadOnly, AclCategories.Keyspace | AclCategories.Read | AclCategories.Slow | AclCategories.Dangerous, static (in OpRequest r) => new KeysOp(r), "Returns all key names that match a pattern.");
        Global(t, "scan", -2, CommandFlags.ReadOnly, AclCategories.Keyspace | AclCategories.Read | AclCategories.Slow, static (in OpRequest r) => new ScanOp(r), "Iterates over the key names in the database.", since: "2.8.0");
        Global(t, "randomkey", 1, CommandFlags.ReadOnly, AclCategories.Keyspace | AclCategories.Read | AclCategories.Slow, static (in OpRequest r) => new RandomKeyOp(r), "Returns a random key name from the database.");
        Global(t, "dbsize", 1, CommandFlags.ReadOnly | CommandFlags.Fast, AclCategories.Keyspace | AclCategories.Read | AclCategories.Fast, static (in OpRequest r) => new DbSizeOp(r), "Returns the number of keys in the database.", "server");
        Global(t, "flushdb", -1, CommandFlags.Write, AclCategories.Keyspace | AclCategories.Write | AclCategories.Slow | AclCategories.Dangerous, static (in OpRequest r) => new FlushOp(r, all: false), "Remove all keys from the current database.", "server");
        Global(t, "flushall", -1, CommandFlags.Write, AclCategories.Keyspace | AclCategories.Write | AclCategories.Slow | AclCategories.Dangerous, static (in OpRequest r) => new FlushOp(r, all: true), "Removes all keys from all databases.", "server");
        Global(t, "swapdb", 3, CommandFlags.Write | CommandFlags.Fast, AclCategories.Keyspace | AclCategories.Write | AclCategories.Fast | AclCategories.Dangerous, static (in OpRequest r) => new SwapDbOp(r), "Swaps two Redis databases.", "server", since: "4.0.0");
    }

    private static void Global(CommandTable t, string name, int arity, CommandFlags flags, AclCategories acl, OpFactory factory, string summary, string group = "generic", string since = "1.0.0") =>
        t.Add(new CommandSpec { Name = name, Arity = arity, Flags = flags, Acl = acl, Kind = CommandKind.Global, CreateOp = factory, Summary = summary, Group = group, Since = since });

    internal sealed class KeysOp : ShardOp
    {
        public override bool SinglePhase => true;

        private readonly List<byte[]>[] _found;

        public KeysOp(in OpRequest r)
            : base(r)
        {
            _found = new List<byte[]>[Slots.ShardCount];
            RouteAll();
        }

        public override void Run(ShardStore store, int phase)
        {
            // Keys are immutable once inserted, so their arrays may be handed to the coordinator.
            var list = new List<byte[]>();
            var pattern = Args[1];
            var all = Glob.IsMatchAll(pattern);
            foreach (var e in store.Dbs[Db].Table)
            {
                if (!e.IsExpiredAt(NowMs) && (all || Glob.Match(pattern, e.Key)))
                {
                    list.Add(e.Key);
                }
            }

            _found[store.ShardId] = list;
        }

        public override void Reply(ReplyBuffer reply)
        {
            var n = 0;
            foreach (var l in _found)
            {
                n += l.Count;
            }

            reply.ArrayHeader(n);
            foreach (var l in _found)
            {
                foreach (var k in l)
                {
                    reply.Bulk(k);
                }
            }
        }
    }

    /// <summary>
    /// SCAN's cursor packs the shard in its low bits and that shard's table cursor above them, so
    /// one cursor walks every shard in turn and a full walk still ends at 0. A call that finishes a
    /// shard with budget left goes on into the next one, a phase per shard, as Redis's loop goes on
    /// through its buckets: a keyspace smaller than COUNT comes back whole, with cursor 0.
    /// </summary>
    internal sealed class ScanOp : ShardOp
    {
        private readonly int _shardBits;
        private readonly int _first;
        private readonly ulong _inner;
        private readonly long _count = 10;
        private readonly int _pattern = -1;
        private readonly int _type = -1;
        private readonly List<byte[]> _keys = [];
        private readonly List<Entry> _visited = [];
        private long _budget;
        private ulong _cursor;
        private ulong _next;

        public override bool SequentialShards => true;

        public ScanOp(in OpRequest r)
            : base(r)
        {
            if (!TryParseCursor(Args[1], out var cursor))
            {
                EarlyError = "ERR invalid cursor";
                return;
            }

            for (var i = 2; i < Args.Count; i++)
            {
                var hasNext = i + 1 < Args.Count;
                if (Is(Args[i], "COUNT"u8) && hasNext)
                {
                    if (!Numbers.TryParseLong(Args[++i], out _count))
                    {
                        EarlyError = "ERR value is not an integer or out of range";
                        return;
                    }

                    if (_count < 1)
                    {
                        EarlyError = "ERR syntax error";
                        return;
                    }
                }
                else if (Is(Args[i], "MATCH"u8) && hasNext)
                {
                    // As Redis: MATCH * is no pattern at all, so it also lists the empty key, which the glob "*" doesn't match.
                    _pattern = Glob.IsMatchAll(Args[++i]) ? -1 : i;
                }
                else if (Is(Args[i], "TYPE"u8) && hasNext)
                {
                    _type = ++i;
                }
                else
                {
                    EarlyError = "ERR syntax error";
                    return;
                }
            }

            // Redis's maxiterations = count * 10, which a COUNT near 2^63 would overflow: saturate instead.
            _budget = _count > long.MaxValue / 10 ? long.MaxValue : _count * 10;
            _shardBits = Slots.ShardCount == 1 ? 0 : BitOperations.Log2((uint)Slots.ShardCount - 1) + 1;
            _first = (int)(cursor & ((1UL << _shardBits) - 1));
            _inner = cursor >> _shardBits;
            if (_first >= Slots.ShardCount)
            {
                return;
            }

            // The shards from the cursor's on: each phase scans the next one while the call has budget left, and the
            // server takes each shard only when its phase is due (SequentialShards).
            var shards = new int[Slots.ShardCount - _first];
            for (var i = 0; i < shards.Length; i++)
            {
                shards[i] = _first + i;
            }

            Shards = shards;
        }

        /// <summary>
        /// Parses a cursor as Redis does, with strtoul: an optional sign (a negative value wraps), base-10 digits, up to
        /// a NUL byte (the end of a C string); refused if it starts with white space, overflows, or has anything else.
        /// </summary>
        internal static bool TryParseCursor(ReadOnlySpan<byte> text, out ulong cursor)
        {
            cursor = 0;
            var nul = text.IndexOf((byte)0);
            if (nul >= 0)
            {
                text = text[..nul];
            }

            if (text.IsEmpty)
            {
                return true;
            }

            if (text[0] is (byte)' ' or (byte)'\t' or (byte)'\n' or (byte)'\v' or (byte)'\f' or (byte)'\r')
            {
                return false;
            }

            var negative = text[0] == '-';
            var i = text[0] is (byte)'-' or (byte)'+' ? 1 : 0;
            if (i == text.Length)
            {
                return false;
            }

            ulong value = 0;
            for (; i < text.Length; i++)
            {
                var d = (uint)(text[i] - '0');
                if (d > 9 || value > (ulong.MaxValue - d) / 10)
                {
                    return false;
                }

                value = (value * 10) + d;
            }

            cursor = negative ? unchecked(0 - value) : value;
            return true;
        }

        public override void Run(ShardStore store, int phase)
        {
            if (store.ShardId != _first + phase)
            {
                return;
            }

            var db = store.Dbs[Db];
            var table = db.Table;
            var start = _visited.Count;
            var cursor = phase == 0 ? _inner : 0;
            do
            {
                cursor = table.ScanStep(cursor, _visited);
            }
            while (cursor != 0 && _budget-- > 0 && _visited.Count < _count);

            // As Redis 7.0's scanGenericCommand, in its order: the pattern first; then TYPE looks the key up as a read
            // (a keyspace hit, or a miss that deletes an expired key, whose type is then "none"); then a key the
            // pattern let through is deleted if its time has passed. The walk above is done before anything is
            // deleted, and the shard is held whole, so no key is removed behind another op's hold.
            for (var i = start; i < _visited.Count; i++)
            {
                var e = _visited[i];
                if (_pattern >= 0 && !Glob.Match(Args[_pattern], e.Key))
                {
                    continue;
                }

                if (_type >= 0)
                {
                    var gone = db.ExpireIfDue(e, NowMs);
                    store.Stats.CountRead(gone ? null : e);
                    if (!Is(Args[_type], gone ? "none"u8 : KeyCommands.TypeName(e)))
                    {
                        continue;
                    }
                }
                else if (db.ExpireIfDue(e, NowMs))
                {
                    continue;
                }

                _keys.Add(e.Key);
            }

            _cursor = cursor;
            var shard = _first + phase;
            _next = cursor != 0 ? (cursor << _shardBits) | (uint)shard : shard + 1 < Slots.ShardCount ? (ulong)(shard + 1) : 0;
        }

        /// <summary>On to the next shard when this one is done and the call still has budget and room, as Redis's loop goes on.</summary>
        public override bool Continue(int phase) =>
            _cursor == 0 && _first + phase + 1 < Slots.ShardCount && _budget > 0 && _visited.Count < _count;

        public override void Reply(ReplyBuffer reply)
        {
            reply.ArrayHeader(2);
            Span<byte> tmp = stackalloc byte[24];
            Utf8Formatter.TryFormat(_next, tmp, out var n);
            reply.Bulk(tmp[..n]);
            reply.ArrayHeader(_keys.Count);
            foreach (var k in _keys)
            {
                reply.Bulk(k);
            }
        }
    }

    internal sealed class RandomKeyOp : ShardOp
    {
        public override bool SinglePhase => true;

        private readonly byte[]?[] _picks;
        private readonly long[] _counts;

        public RandomKeyOp(in OpRequest r)
            : base(r)
        {
            _picks = new byte[]?[Slots.ShardCount];
            _counts = new long[Slots.ShardCount];
            RouteAll();
        }

        public override void Run(ShardStore store, int phase)
        {
            // As Redis's dbRandomKey: pick again while the pick has expired (each such pick is deleted, so the shard
            // empties or a live key turns up). The bound only matters if expired keys can't be deleted here now.
            var db = store.Dbs[Db];
            var bound = db.Count + 100;
            for (var tries = 0; tries < bound && db.Count > 0; tries++)
            {
                var e = db.Table.Random(store.Rng)!;
                if (db.Find(e.Key, NowMs) is not null)
                {
                    _picks[store.ShardId] = e.Key;
                    break;
                }
            }

            _counts[store.ShardId] = _picks[store.ShardId] is null ? 0 : db.Count;
        }

        public override void Reply(ReplyBuffer reply)
        {
            long total = 0;
            foreach (var c in _counts)
            {
                total += c;
            }

            if (total == 0)
            {
                reply.NullBulk();
                return;
            }

            // Pick a shard in proportion to its size, so every key is about equally likely.
            var x = Random.Shared.NextInt64(total);
            for (var s = 0; s < _counts.Length; s++)
            {
                if (x < _counts[s])
                {
                    reply.Bulk(_picks[s]!);
                    return;
                }

                x -= _counts[s];
            }
        }
    }

    internal sealed class DbSizeOp : ShardOp
    {
        public override bool SinglePhase => true;

        private readonly long[] _counts;

        public DbSizeOp(in OpRequest r)
            : base(r)
        {
            _counts = new long[Slots.ShardCount];
            RouteAll();
        }

        public override void Run(ShardStore store, int phase) => _counts[store.ShardId] = store.Dbs[Db].Count;

        public override void Reply(ReplyBuffer reply)
        {
            long total = 0;
            foreach (var c in _counts)
            {
                total += c;
            }

            reply.Integer(total);
        }
    }

    internal sealed class FlushOp : ShardOp
    {
        public override bool SinglePhase => true;

        private readonly bool _all;

        public FlushOp(in OpRequest r, bool all)
            : base(r)
        {
            _all = all;
            if (Args.Count > 2 || (Args.Count == 2 && !Is(Args[1], "ASYNC"u8) && !Is(Args[1], "SYNC"u8)))
            {
                EarlyError = "ERR syntax error";
                return;
            }

            RouteAll();
        }

        public override void Run(ShardStore store, int phase)
        {
            if (!_all)
            {
                store.Dbs[Db].Flush();
                return;
            }

            foreach (var db in store.Dbs)
            {
                db.Flush();
            }
        }

        public override void Reply(ReplyBuffer reply) => reply.Ok();
    }

    internal sealed class SwapDbOp : ShardOp
    {
        public override bool SinglePhase => true;

        private readonly int _a;
        private readonly int _b;

        public SwapDbOp(in OpRequest r)
            : base(r)
        {
            if (!Numbers.TryParseLong(Args[1], out var a) || a is < int.MinValue or > int.MaxValue)
            {
                EarlyError = "ERR invalid first DB index";
                return;
            }

            if (!Numbers.TryParseLong(Args[2], out var b) || b is < int.MinValue or > int.MaxValue)
            {
                EarlyError = "ERR invalid second DB index";
                return;
            }

            if (a < 0 || a >= DatabaseCount || b < 0 || b >= DatabaseCount)
            {
                EarlyError = "ERR DB index is out of range";
                return;
            }

            (_a, _b) = ((int)a, (int)b);
            RouteAll();
        }

        public override void Run(ShardStore store, int phase)
        {
            if (_a != _b)
            {
                store.SwapDb(_a, _b);
            }
        }

        public override void Reply(ReplyBuffer reply) => reply.Ok();
    }
}
