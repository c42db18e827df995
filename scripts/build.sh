#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh [DIR] [cmake args...]
#   scripts/build.sh                      -> build/ (RelWithDebInfo)
#   scripts/build.sh build-asan -DCLUSTERNODES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-build}"
shift || true
cd "$root"
cmake -S . -B "$dir" -G Ninja "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
