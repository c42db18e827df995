#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine (as root) or an
# existing checkout: installs what is missing, builds, and runs every test
# (unit and integration with real processes) twice: in the normal build and
# in the AddressSanitizer + UndefinedBehaviorSanitizer build.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/setup.sh"
"$root/scripts/docker.sh"
"$root/scripts/node.sh"

# ctest learns each binary's test cases from its list; a name with '[', ']'
# or ';' breaks that with a CMake error far from the cause (CMake takes
# them for bracket arguments and list separators).
check_test_names() {
  local bad
  bad=$(for t in "$1"/bin/*_test; do "$t" --list-test-cases 2>/dev/null; done |
    grep -v -e '^\[doctest\]' -e '^====' | grep -E '[][;]' || true)
  if [ -n "$bad" ]; then
    printf 'test case names ctest cannot take (no [, ] or ;):\n%s\n' "$bad" >&2
    exit 1
  fi
}

echo "== build (RelWithDebInfo) =="
"$root/scripts/build.sh" build
check_test_names build
echo "== tests (RelWithDebInfo) =="
ctest --test-dir build --output-on-failure -j 2 --timeout 300

echo "== build (address + undefined sanitizers) =="
"$root/scripts/build.sh" build-asan -DCLUSTERNODES_SANITIZE=ON -DCMAKE_BUILD_TYPE=Debug -DCLUSTERNODES_BENCHMARKS=OFF
echo "== tests (address + undefined sanitizers) =="
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
# Leaks inside third-party libraries, each with its reason.
export LSAN_OPTIONS="suppressions=$root/scripts/lsan-suppressions.txt"
ctest --test-dir build-asan --output-on-failure -j 2 --timeout 600

echo "== fuzzing (each target for a bounded time) =="
"$root/scripts/fuzz.sh"
