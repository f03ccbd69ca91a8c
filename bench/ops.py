#!/usr/bin/env python3
"""Large and long operations from one redis-py client, Basalt against redis-server: the algorithmic traps that a
redis-benchmark run of small GETs and SETs never reaches (a value built by 10,000 APPENDs, a SCAN walk of 200,000
keys with COUNT 10, MSET of 200,000 pairs, a 200 MB value, ...). Prints seconds per operation and the Basalt/Redis
ratio. Uses Debian's python3-redis, so run it with /usr/bin/python3.
Usage: bench/ops.py. Environment: BASALT_SHARDS (default: core count). Invoked after bench/run.sh has built Basalt
(or `dotnet build src/Basalt.Server -c Release`).
"""
import os
import subprocess
import time

import redis

from run import require_free, wait_port  # bench/run.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARDS = os.environ.get("BASALT_SHARDS", str(os.cpu_count()))
N = 200_000


def workloads(r):
    """(name, function) pairs, run in order against a flushed server; each may rely on the ones before it."""
    pairs = {f"k{i}": b"v" for i in range(N)}
    big = b"x" * (200 << 20)

    def scan_all():
        return sum(1 for _ in r.scan_iter(count=10))

    def append_log():
        chunk = b"x" * 1024
        for start in range(0, 10_000, 100):
            p = r.pipeline(transaction=False)
            for _ in range(100):
                p.append("log", chunk)
            p.execute()

    def setrange_grow():
        p = r.pipeline(transaction=False)
        for i in range(10_000):
            p.setrange("grown", i * 1024, b"y" * 1024)
        p.execute()

    def incr_pipeline():
        p = r.pipeline(transaction=False)
        for _ in range(100_000):
            p.incr("counter")
        p.execute()

    return [
        ("MSET of 200,000 pairs", lambda: r.mset(pairs)),
        ("MGET of 200,000 keys", lambda: r.mget(list(pairs))),
        ("EXISTS of 200,000 keys", lambda: r.exists(*pairs)),
        ("SCAN walk, COUNT 10", scan_all),
        ("KEYS *", lambda: r.keys("*")),
        ("DEL of 200,000 keys", lambda: r.delete(*pairs)),
        ("SET of a 200 MB value", lambda: r.set("big", big)),
        ("GET of a 200 MB value", lambda: r.get("big")),
        ("1,000 GETRANGEs of its tail", lambda: [r.getrange("big", (200 << 20) - 10, -1) for _ in range(1000)]),
        ("COPY of it", lambda: r.copy("big", "big2")),
        ("SETRANGE at 100 MB of a new key", lambda: r.setrange("sparse", 100 << 20, "x")),
        ("10,000 APPENDs of 1 KB", append_log),
        ("10,000 SETRANGEs growing by 1 KB", setrange_grow),
        ("100,000 pipelined INCRs", incr_pipeline),
    ]


def run(port):
    r = redis.Redis(port=port)
    r.flushall()
    times = {}
    for name, fn in workloads(r):
        start = time.perf_counter()
        fn()
        times[name] = time.perf_counter() - start
    r.flushall()
    return times


def main():
    servers = {
        "redis": (7311, ["redis-server", "--port", "7311", "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"]),
        "basalt": (7312, ["dotnet", os.path.join(ROOT, "src/Basalt.Server/bin/Release/net10.0/basalt-server.dll"),
                          "--port", "7312", "--admin-port", "0", "--shards", SHARDS, "--dir", "/tmp/basalt-ops-data",
                          "--loglevel", "warning"]),
    }
    results = {}
    for name, (port, cmd) in servers.items():
        require_free(port)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(port)
            run(port)  # warm-up: the JIT, and the servers' buffers
            results[name] = run(port)
        finally:
            proc.terminate()
            proc.wait()

    print(f"{'operation':36} {'basalt s':>9} {'redis s':>9} {'basalt/redis':>13}   (Basalt with {SHARDS} shards)")
    for op, b in results["basalt"].items():
        rd = results["redis"][op]
        print(f"{op:36} {b:9.3f} {rd:9.3f} {b / max(rd, 1e-6):13.2f}")


if __name__ == "__main__":
    main()
