#!/usr/bin/env bash
# Benchmarks Basalt against redis-server and Garnet on loopback: builds Basalt (Release),
# installs Garnet into .tools/ and redis-benchmark if missing, then runs bench/run.py.
set -euo pipefail
cd "$(dirname "$0")/.."
command -v redis-benchmark >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq redis-server redis-tools >/dev/null; }
[ -x .tools/garnet-server ] || dotnet tool install --tool-path .tools garnet-server >/dev/null
dotnet build src/Basalt.Server -c Release -nologo -v q
# Default: Basalt at its default shard count (one per core), then with 1 shard, each next to Redis and Garnet.
for shards in ${BASALT_SHARDS_LIST:-$(nproc) 1}; do
  echo
  echo "### Basalt with ${shards} shard(s)"
  BASALT_SHARDS=$shards /usr/bin/python3 bench/run.py "$@"
done
