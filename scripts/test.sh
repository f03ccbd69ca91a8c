#!/usr/bin/env bash
# Runs every Basalt test. Installs what the tests need first, when it is missing:
# redis-server (the differential oracle) and Debian's python3-redis (the redis-py client test).
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
command -v redis-cli >/dev/null 2>&1 || need+=(redis-tools)
/usr/bin/python3 -c 'import redis' >/dev/null 2>&1 || need+=(python3-redis)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing: ${need[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO="sudo"
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${need[@]}" >/dev/null
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
