#!/usr/bin/env bash
# Builds the libFuzzer targets (fuzz/) with Debian's clang in build-fuzz/ and
# runs each for a bounded time on a copy of its seed corpus (fuzz/corpus/;
# what the fuzzer adds is not written back). Fails when any target crashes,
# leaks, runs out of memory or time on an input, and prints where its
# reproducer is kept. docs/security.md, "Fuzzing", says more.
#
#   scripts/fuzz.sh                         every target, FUZZ_SECONDS (20) each
#   FUZZ_SECONDS=600 scripts/fuzz.sh http_requests
#                                           one target, for ten minutes
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"
seconds="${FUZZ_SECONDS:-20}"
build="$root/build-fuzz"
targets=("$@")
if [ ${#targets[@]} -eq 0 ]; then
  for dir in fuzz/corpus/*/; do targets+=("$(basename "$dir")"); done
fi

launcher=()
if command -v ccache >/dev/null; then
  # As scripts/build.sh: paths relative to the checkout, for other clones.
  export CCACHE_BASEDIR="$root" CCACHE_NOHASHDIR=true
  launcher=(-DCMAKE_CXX_COMPILER_LAUNCHER=ccache -DCMAKE_C_COMPILER_LAUNCHER=ccache)
fi
echo "fuzz: building the targets in build-fuzz/"
cmake -S . -B "$build" -G Ninja "${launcher[@]}" -DCMAKE_C_COMPILER=clang-14 -DCMAKE_CXX_COMPILER=clang++-14 \
  -DCMAKE_BUILD_TYPE=Debug -DCLUSTERNODES_FUZZ=ON >/dev/null
if ! nice cmake --build "$build" --target fuzz -j "$(nproc)" >"$build/fuzz-build.log" 2>&1; then
  tail -n 60 "$build/fuzz-build.log" >&2
  echo "fuzz: the build failed (whole log: $build/fuzz-build.log)" >&2
  exit 1
fi

work="$(mktemp -d -t cn-fuzz.XXXXXX)"
trap 'rm -rf "$work"' EXIT
# Reproducers outlive the run, beside the build.
artifacts="$build/artifacts"
export ASAN_OPTIONS="detect_leaks=1:abort_on_error=1:detect_stack_use_after_return=1"
export UBSAN_OPTIONS="print_stacktrace=1:halt_on_error=1"
export LSAN_OPTIONS="suppressions=$root/scripts/lsan-suppressions.txt"

failed=()
for target in "${targets[@]}"; do
  binary="$build/fuzz-targets/$target"
  if [ ! -x "$binary" ] || [ ! -d "fuzz/corpus/$target" ]; then
    echo "fuzz: no target '$target' (a program built from fuzz/$target.cpp and a corpus in fuzz/corpus/$target/)" >&2
    exit 2
  fi
  mkdir -p "$work/$target/corpus" "$work/$target/tmp" "$artifacts/$target"
  cp -r "fuzz/corpus/$target/." "$work/$target/corpus/"
  options=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
           -artifact_prefix="$artifacts/$target/")
  # The daemons' targets read conversations, longer than one message. Each
  # of their inputs reaches some 20,000 features, which libFuzzer's entropic
  # scheduling weighs at a cost of several runs: without it they run five
  # times the inputs and reach as far in a short run.
  case "$target" in
    master_messages|agent_messages) options+=(-max_len=16384 -entropic=0) ;;
    *) options+=(-max_len=8192) ;;
  esac
  if [ -f "fuzz/dictionaries/$target.dict" ]; then options+=(-dict="fuzz/dictionaries/$target.dict"); fi
  log="$work/$target/log"
  status=0
  TMPDIR="$work/$target/tmp" "$binary" "${options[@]}" "$work/$target/corpus" >"$log" 2>&1 || status=$?
  execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")
  rate=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  if [ "$status" -eq 0 ]; then
    printf 'fuzz: %-18s ok: %s inputs in %s s (%s/s), corpus %s -> %s\n' "$target" "${execs:-?}" "$seconds" \
      "${rate:-?}" "$(find "fuzz/corpus/$target" -type f | wc -l)" "$(find "$work/$target/corpus" -type f | wc -l)"
    continue
  fi
  failed+=("$target")
  echo "fuzz: $target FAILED (exit $status); the end of its log:" >&2
  tail -n 60 "$log" >&2
  reproducer=$(sed -n 's/.*Test unit written to \(.*\)$/\1/p' "$log" | tail -n 1)
  if [ -n "$reproducer" ]; then
    echo "fuzz: reproducer: $reproducer" >&2
    echo "fuzz: replay it: $binary $reproducer" >&2
  fi
done

if [ ${#failed[@]} -ne 0 ]; then
  echo "fuzz: failed: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} target(s) ran ${seconds} s each without a finding"
