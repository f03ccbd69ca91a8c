#!/usr/bin/env python3
"""Managed-heap bytes Basalt allocates per request, by workload: invariant 7 (hot paths don't allocate), checked on a
running server under redis-benchmark rather than hoped for.

For each workload the server is warmed (the keyspace filled, the JIT settled), then basalt_runtime_allocated_bytes_total
and basalt_runtime_gc_collections_total are read from /metrics around a measured run. The bytes include every thread
(the admin port's scrapes among them, a few KB each), so a hot path that allocates nothing shows well under one byte
per request. A write of a new key allocates its key, value and entry: the warm-up writes the same keyspace first, so
the measured SETs overwrite same-size values.
Usage: bench/alloc.py [workload ...] (default: all). Environment: BASALT_SHARDS_LIST (default "1 2"), REQUESTS
(default 300000). Invoked after bench/run.sh has built Basalt (or `dotnet build src/Basalt.Server -c Release`).
"""
import os
import re
import subprocess
import sys
import urllib.request

from run import require_free, wait_port  # bench/run.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARDS_LIST = os.environ.get("BASALT_SHARDS_LIST", "1 2").split()
REQUESTS = int(os.environ.get("REQUESTS", "300000"))
PORT, ADMIN = 7301, 7302
KEYSPACE = "100000"

# name -> redis-benchmark arguments (after -p, -n, -r). Each one runs once to warm and once measured.
WORKLOADS = {
    "GET P1": ["-t", "get", "-P", "1", "-c", "50"],
    "SET P1": ["-t", "set", "-P", "1", "-c", "50"],
    "GET P16": ["-t", "get", "-P", "16", "-c", "50"],
    "SET P16": ["-t", "set", "-P", "16", "-c", "50"],
    "MSET": ["-t", "mset", "-P", "1", "-c", "50"],
    "MGET": ["-P", "1", "-c", "50", "MGET", "key:__rand_int__", "key:__rand_int__", "key:__rand_int__",
             "key:__rand_int__", "key:__rand_int__"],
    "INCR": ["-t", "incr", "-P", "1", "-c", "50"],
    # Pipelined multi-key ops over both shards run in batches (docs/architecture.md, op batches).
    "MGET P16": ["-P", "16", "-c", "50", "MGET", "key:__rand_int__", "key:__rand_int__"],
    "MSET P16": ["-P", "16", "-c", "50", "MSET", "key:__rand_int__", "x", "key:__rand_int__", "y"],
}


def scrape():
    with urllib.request.urlopen(f"http://127.0.0.1:{ADMIN}/metrics", timeout=10) as r:
        text = r.read().decode()
    allocated = float(re.search(r"^basalt_runtime_allocated_bytes_total (\S+)$", text, re.M).group(1))
    gen0 = float(re.search(r'^basalt_runtime_gc_collections_total\{generation="0"\} (\S+)$', text, re.M).group(1))
    return allocated, gen0


def main():
    chosen = sys.argv[1:] or list(WORKLOADS)
    for shards in SHARDS_LIST:
        cmd = ["dotnet", os.path.join(ROOT, "src/Basalt.Server/bin/Release/net10.0/basalt-server.dll"),
               "--port", str(PORT), "--admin-port", str(ADMIN), "--shards", shards,
               "--dir", "/tmp/basalt-alloc-data", "--loglevel", "warning"]
        require_free(PORT)
        proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        try:
            wait_port(PORT)
            for name in chosen:
                bench = ["redis-benchmark", "-p", str(PORT), "-n", str(REQUESTS), "-r", KEYSPACE, "-q",
                         *WORKLOADS[name]]
                subprocess.run(bench, check=True, capture_output=True)  # warm-up: fills the keyspace, settles the JIT
                a0, g0 = scrape()
                out = subprocess.run(bench, check=True, capture_output=True, text=True).stdout
                a1, g1 = scrape()
                rps = re.findall(r"([\d.]+) requests per second", out)
                print(f"shards={shards} {name:8} {(a1 - a0) / REQUESTS:10.2f} bytes/request  "
                      f"gen0 collections {int(g1 - g0):4}  ({rps[-1] if rps else '?'} requests/s)", flush=True)
        finally:
            proc.terminate()
            proc.wait()


if __name__ == "__main__":
    main()
