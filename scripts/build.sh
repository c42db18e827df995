#!/usr/bin/env bash
# Configures and builds one build tree. Usage: scripts/build.sh [DIR] [cmake args...]
#   scripts/build.sh                      -> build/ (RelWithDebInfo)
#   scripts/build.sh build-asan -DCLUSTERNODES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
dir="${1:-build}"
shift || true
cd "$root"
launcher=()
if command -v ccache >/dev/null; then
  # Paths relative to the checkout, and no build directory in the hash, so
  # that another clone of the same sources hits the same cache entries.
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
cmake -S . -B "$dir" -G Ninja "${launcher[@]}" "$@" >/dev/null
cmake --build "$dir" -j "$(nproc)"
