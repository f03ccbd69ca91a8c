#!/usr/bin/env python3
"""Basalt vs redis-server vs Garnet, side by side, with the same redis-benchmark workloads.

Runs every workload against each server in turn (the order rotating each round), ROUNDS times, and prints medians of
requests/s and p99 latency, plus the Basalt/Redis and Basalt/Garnet ratios.
Invoked by bench/run.sh, which builds Basalt and installs Garnet first.
"""
import csv
import io
import os
import platform
import statistics
import subprocess
import sys
import time
import socket

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROUNDS = int(os.environ.get("ROUNDS", "3"))
SHARDS = os.environ.get("BASALT_SHARDS", str(os.cpu_count()))

# name, redis-benchmark arguments (all with -r 1000000 random keys).
# Each test runs about 2-5 s: this VM's speed drifts over seconds, and a longer run averages more of it out.
WORKLOADS = [
    ("SET/GET P16 c50", ["-t", "set,get", "-P", "16", "-c", "50", "-n", "3000000"]),
    ("SET/GET P1 c50", ["-t", "set,get", "-P", "1", "-c", "50", "-n", "500000"]),
    ("SET/GET P1 c1", ["-t", "set,get", "-P", "1", "-c", "1", "-n", "60000"]),
    ("MSET P1 c50", ["-t", "mset", "-P", "1", "-c", "50", "-n", "250000"]),
]

# Run only when ONLY names them: multi-key commands pipelined (P16 c50), with keys on one shard ({t} tags) or spread.
# A multi-key command over several shards is an atomic op, and those in a row in a pipeline run as one batch; one with
# its keys on one shard runs there as a keyed command. With ONLY=multi the keyspace starts empty, and no workload sets
# the a:/b: keys the MGETs read: these measure the cost per command, not the lookups' (docs/benchmarks.md).
EXTRA_WORKLOADS = [
    ("multi DEL pipelined", ["-P", "16", "-c", "50", "-n", "3000000", "DEL", "key:__rand_int__"]),
    ("multi EXISTS pipelined", ["-P", "16", "-c", "50", "-n", "3000000", "EXISTS", "key:__rand_int__"]),
    ("multi MGET one-shard pipelined", ["-P", "16", "-c", "50", "-n", "2000000", "MGET", "{t}a:__rand_int__", "{t}b:__rand_int__"]),
    ("multi MGET spread pipelined", ["-P", "16", "-c", "50", "-n", "2000000", "MGET", "a:__rand_int__", "b:__rand_int__"]),
]

# ONLY="P16,MSET" keeps the workloads whose name contains one of the words (for quick looks); ONLY="multi" runs the
# extra ones.
if os.environ.get("ONLY"):
    WORKLOADS = [w for w in WORKLOADS + EXTRA_WORKLOADS if any(o in w[0] for o in os.environ["ONLY"].split(","))]

SERVERS = {
    "basalt": lambda port: ["dotnet", os.path.join(ROOT, "src/Basalt.Server/bin/Release/net10.0/basalt-server.dll"),
                            "--port", str(port), "--shards", SHARDS, "--dir", "/tmp/basalt-bench-data", "--loglevel", "warning"],
    "redis": lambda port: ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1", "--loglevel", "warning"],
    "garnet": lambda port: [os.path.join(ROOT, ".tools/garnet-server"), "--port", str(port), "--bind", "127.0.0.1", "--logger-level", "Warning"],
}
PORTS = {"basalt": 7101, "redis": 7102, "garnet": 7103}


def require_free(port):
    """Refuses to go on when something already listens on port: the benchmark would measure that server instead."""
    with socket.socket() as s:
        # As the servers bind: connections of an earlier run left in TIME_WAIT don't count, a listener does.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind(("127.0.0.1", port))
        except OSError as e:
            raise SystemExit(f"port {port} is taken ({e}); stop whatever listens there and run again")


def wait_port(port, timeout=60):
    deadline = time.time() + timeout
    while time.time() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"PING\r\n")
                if s.recv(16).startswith(b"+PONG"):
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"server on {port} did not come up")


def bench(port, args):
    out = subprocess.run(["redis-benchmark", "-h", "127.0.0.1", "-p", str(port), "-r", "1000000", "--csv", *args],
                         check=True, capture_output=True, text=True, timeout=600).stdout
    rows = {}
    for row in csv.DictReader(io.StringIO(out)):
        rows[row["test"].split(" ")[0]] = (float(row["rps"]), float(row["p99_latency_ms"]))
    return rows


def main():
    results = {}  # (server, workload, test) -> [(rps, p99)]
    procs = {}
    try:
        for name in SERVERS:
            require_free(PORTS[name])
        for name, cmd in SERVERS.items():
            procs[name] = subprocess.Popen(cmd(PORTS[name]), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            wait_port(PORTS[name])
        # One unmeasured pass per server first, so .NET's tiered JIT (Basalt, Garnet) is warm,
        # as a long-running server would be. Redis gets the same pass.
        for wname, args in WORKLOADS:
            for name in SERVERS:
                bench(PORTS[name], args)
        print("warm-up done", file=sys.stderr, flush=True)
        names = list(SERVERS)
        for rnd in range(ROUNDS):
            # The order rotates each round, so no server always runs first, or right after the same neighbour.
            order = names[rnd % len(names):] + names[:rnd % len(names)]
            for wname, args in WORKLOADS:
                for name in order:
                    for test, value in bench(PORTS[name], args).items():
                        results.setdefault((name, wname, test), []).append(value)
                    print(f"round {rnd + 1}/{ROUNDS} {wname:<16} {name:<7} done", file=sys.stderr, flush=True)
    finally:
        for p in procs.values():
            p.terminate()
        for p in procs.values():
            p.wait(timeout=30)

    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), platform.processor())
    print(f"Machine: {os.cpu_count()} cores, {cpu}, {platform.platform()}; Basalt shards={SHARDS}; {ROUNDS} rounds, medians.")
    print()
    print("| workload | test | basalt rps | redis rps | garnet rps | basalt/redis | basalt/garnet | basalt p99 ms | redis p99 ms | garnet p99 ms | p99 basalt/redis |")
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for wname, _ in WORKLOADS:
        tests = sorted({t for (s, w, t) in results if w == wname})
        for test in tests:
            med = {s: (statistics.median(r for r, _ in results[(s, wname, test)]),
                       statistics.median(p for _, p in results[(s, wname, test)])) for s in SERVERS}
            b, r, g = med["basalt"], med["redis"], med["garnet"]
            print(f"| {wname} | {test} | {b[0]:,.0f} | {r[0]:,.0f} | {g[0]:,.0f} | {b[0] / r[0]:.2f} | {b[0] / g[0]:.2f} "
                  f"| {b[1]:.3f} | {r[1]:.3f} | {g[1]:.3f} | {b[1] / r[1]:.2f} |")


if __name__ == "__main__":
    main()
