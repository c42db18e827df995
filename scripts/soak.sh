#!/usr/bin/env bash
# Builds bench-soak and runs it: random kills of agents and the master under a
# steady task load, then tasks launched, finished, lost and duplicated. Not
# part of CI. Arguments go to bench-soak; the build tree is $BUILD_DIR
# (default build/).
#   scripts/soak.sh --duration=120s
#   scripts/soak.sh --duration=10m --rate=10 --kill-interval=5s --seed=42 --json
# Exit status: bench-soak's (0: nothing lost or duplicated; 1: some were;
# 2: a bad flag; 3: the cluster did not start), or the build's.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${BUILD_DIR:-build}"
cd "$root"
cmake -S . -B "$dir" -G Ninja >/dev/null
cmake --build "$dir" --target bench-soak >&2
exec "$dir/bin/bench-soak" "$@"
