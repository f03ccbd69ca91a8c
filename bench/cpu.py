#!/usr/bin/env python3
"""Server CPU time and context switches per request, for Basalt and redis-server.

Throughput on a 2-core machine that also runs the load generator moves by ±10% from run to run; the CPU
a server spends per request moves far less, so it is the measure to compare code changes with.
Usage: bench/cpu.py [workload ...] where a workload is "P1" or "P16" (GET and SET, c50). Environment:
BASALT_SHARDS (default: core count), RUNS (default 3), REQUESTS (default 400000 for P1, 3000000 for P16).
Invoked after bench/run.sh has built Basalt (or `dotnet build src/Basalt.Server -c Release`).
"""
import glob
import os
import statistics
import subprocess
import sys

from run import require_free, wait_port  # bench/run.py, beside this file

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SHARDS = os.environ.get("BASALT_SHARDS", str(os.cpu_count()))
RUNS = int(os.environ.get("RUNS", "3"))
TICK = os.sysconf("SC_CLK_TCK")
SERVERS = {
    "redis": lambda port: ["redis-server", "--port", str(port), "--save", "", "--appendonly", "no", "--bind", "127.0.0.1"],
    "basalt": lambda port: ["dotnet", os.path.join(ROOT, "src/Basalt.Server/bin/Release/net10.0/basalt-server.dll"),
                            "--port", str(port), "--shards", SHARDS, "--dir", "/tmp/basalt-cpu-data", "--loglevel", "warning"],
}
WORKLOADS = {"P1": ["-P", "1", "-c", "50", "-n", os.environ.get("REQUESTS", "400000")],
             "P16": ["-P", "16", "-c", "50", "-n", os.environ.get("REQUESTS", "3000000")]}


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def switches(pid):
    total = 0
    for status in glob.glob(f"/proc/{pid}/task/*/status"):
        try:
            with open(status) as f:
                for line in f:
                    if line.startswith(("voluntary_ctxt_switches", "nonvoluntary_ctxt_switches")):
                        total += int(line.split()[1])
        except FileNotFoundError:
            pass
    return total


def main():
    chosen = sys.argv[1:] or ["P1", "P16"]
    port = 7201
    for wname in chosen:
        args = WORKLOADS[wname]
        requests = 2 * int(args[args.index("-n") + 1])
        for name, cmd in SERVERS.items():
            require_free(port)
            proc = subprocess.Popen(cmd(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            try:
                wait_port(port)
                bench = ["redis-benchmark", "-p", str(port), "-r", "1000000", "-t", "set,get", "-q", *args]
                subprocess.run(bench, check=True, capture_output=True)  # warm-up
                cpus, ctx = [], []
                for _ in range(RUNS):
                    c0, s0 = cpu_seconds(proc.pid), switches(proc.pid)
                    subprocess.run(bench, check=True, capture_output=True)
                    cpus.append((cpu_seconds(proc.pid) - c0) * 1e6 / requests)
                    ctx.append((switches(proc.pid) - s0) / requests)
                label = name if name == "redis" else f"basalt({SHARDS})"
                print(f"{wname:4} {label:10} cpu µs/request median {statistics.median(cpus):.3f} "
                      f"(runs {', '.join(f'{c:.3f}' for c in cpus)}), context switches/request {statistics.median(ctx):.3f}",
                      flush=True)
            finally:
                proc.terminate()
                proc.wait()
            port += 1


if __name__ == "__main__":
    main()
