#!/usr/bin/env bash
# Installs the npm packages the tests drive the master with (today
# @dcos/mesos-client for the Mesos v1 operator API), from the lock file in
# tests/integration/programs/mesos-client/, into its node_modules/.
# Idempotent: nothing is fetched while node_modules matches the lock file.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="$root/tests/integration/programs/mesos-client"

if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "node: node and npm are missing; run as root or install Debian's nodejs and npm" >&2
    exit 1
  fi
  echo "node: installing Debian's nodejs and npm"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends nodejs npm >/dev/null
fi

# npm writes node_modules/.package-lock.json on install: the same as the
# lock file's packages when nothing changed since.
if [ -f "$dir/node_modules/.package-lock.json" ] &&
   [ "$dir/node_modules/.package-lock.json" -nt "$dir/package-lock.json" ]; then
  echo "node: $dir/node_modules is up to date"
  exit 0
fi
echo "node: npm ci in $dir"
(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error)
