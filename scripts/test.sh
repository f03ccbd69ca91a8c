#!/usr/bin/env bash
# Runs every Basalt test. Installs what the tests need first, when it is missing:
# redis-server and redis-tools (the differential oracle, redis-cli), Debian's python3-redis
# (the redis-py client test) and ioredis and node-redis from npm (the Node.js client tests).
set -euo pipefail
cd "$(dirname "$0")/.."

SUDO_CMD=""; [ "$(id -u)" -ne 0 ] && SUDO_CMD="sudo"
need=()
# The differential tests run Debian's redis-server 7.0 from /usr/bin, whatever else is on PATH.
[ -x /usr/bin/redis-server ] || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
/usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || need+=(python3-redis)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  $SUDO_CMD apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO_CMD apt-get install -y -qq "${need[@]}" >/dev/null
fi

# ioredis and node-redis for the Node.js client tests, into the repo (tests/clients/node/node_modules).
command -v node >/dev/null 2>&1 || { $SUDO_CMD apt-get update -qq; DEBIAN_FRONTEND=noninteractive $SUDO_CMD apt-get install -y -qq nodejs npm >/dev/null; }
# node-redis (the lockfile's redis 6.x) needs Node.js 20 or newer; Debian 12's own nodejs is 18.
node_major=$(node -p 'process.versions.node.split(".")[0]')
[ "$node_major" -ge 20 ] || { echo "Node.js $(node -v) is too old for the client tests: node-redis needs Node.js 20 or newer" >&2; exit 1; }
# Installed again whenever the lockfile changed since the last install (its hash is kept next to the modules).
lock_hash=$(sha256sum tests/clients/node/package-lock.json | cut -d' ' -f1)
stamp=tests/clients/node/node_modules/.basalt-lock-hash
if [ ! -d tests/clients/node/node_modules/ioredis ] || [ ! -d tests/clients/node/node_modules/redis ] || [ "$(cat "$stamp" 2>/dev/null)" != "$lock_hash" ]; then
  npm ci --prefix tests/clients/node --no-audit --no-fund --silent
  echo "$lock_hash" > "$stamp"
fi

# The Debian package starts a redis-server on 6379 as a service; tests start their own on free ports.
dotnet build Basalt.slnx -c Release -warnaserror -nologo -v q
dotnet format Basalt.slnx --verify-no-changes --no-restore
log=$(mktemp)
status=0
dotnet test Basalt.slnx -c Release --no-build -nologo -v q --logger "console;verbosity=minimal" 2>&1 | tee "$log" || status=$?

# One plain closing line with the totals of every test project.
passed=$(grep -oE 'Passed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
failed=$(grep -oE 'Failed: +[0-9]+' "$log" | awk '{s+=$2} END {print s+0}')
rm -f "$log"
echo "${passed} passed, ${failed} failed"
exit "$status"
