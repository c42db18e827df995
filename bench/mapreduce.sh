#!/usr/bin/env bash
# clusternodes-mapreduce on a local cluster (one master, two agents of one
# core each) against single-machine tools, side by side in one run:
#   wordcount: the coreutils pipeline cat | tr | tr | grep | sort | uniq -c
#   terasort:  GNU sort with the same memory and two threads
# It prints seconds, MB/s and the ratios, then a summary block and the
# machine. See bench/README.md and docs/benchmarks.md.
set -euo pipefail

PROG=mapreduce.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<EOF
Usage: bench/mapreduce.sh [OPTIONS]

Starts a master and two agents (cpus:1 each, isolation cgroups, loopback
ports) in a work directory, then times clusternodes-mapreduce against the
single-machine tools on the same input, one after the other:

  wordcount  the coreutils pipeline
             cat IN/* | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' | grep -v '^\$' | LC_ALL=C sort | uniq -c
             then clusternodes-mapreduce --reducers=2 wordcount IN OUT;
             the counts must be the same
  terasort   clusternodes-mapreduce teragen ROWS IN --files=2, then
             LC_ALL=C sort -S M --parallel=2 -T WORK IN/* -o FILE
             then clusternodes-mapreduce --reducers=2 --task-mem=M/2 terasort IN OUT;
             teravalidate OUT --input=IN, and the md5 of both outputs

Options:
  --bin=DIR            the daemons and clusternodes-mapreduce (default: build/bin)
  --text-mb=N          wordcount input, MB (10^6 bytes) of fortunes texts (default 100)
  --text-file-mb=N     size of each wordcount input file, MB (default 10)
  --tera-rows=N        terasort rows of 100 bytes (default 10000000: 1 GB)
  --task-mem=MiB       mem of each MapReduce task; GNU sort gets twice this
                       (2 tasks run at once) (default 2048)
  --split-size=SIZE    the jobs' --split-size (default: the framework's, 16M)
  --mr-flag=FLAG       extra flag for both jobs, repeatable
  --only=JOB           wordcount or terasort (default: both)
  --work=DIR           work directory, empty or new (default: a mktemp dir
                       under /tmp); removed at the end unless --keep
  --keep               keep the work directory (logs, inputs, outputs)
  --job-timeout=SEC    a job that runs longer fails the run (default 1800)
  -h, --help           this help

Exit status: 0 when every job ran and its output checked out (an md5
difference in terasort is reported, not fatal: teravalidate decides);
1 otherwise, with a one-line reason on stderr; 2 on a bad flag.
EOF
}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$ROOT/bench/common.sh"

TERA_ROWS=10000000
TASK_MEM=2048
SPLIT_SIZE=

for arg in "$@"; do
  common_flag "$arg" && continue
  case $arg in
    --tera-rows=*) TERA_ROWS=${arg#*=}; is_uint "$TERA_ROWS" || bad_flag "--tera-rows wants a positive whole number" ;;
    --task-mem=*) TASK_MEM=${arg#*=}; is_uint "$TASK_MEM" || bad_flag "--task-mem wants a positive whole number of MiB" ;;
    --split-size=*) SPLIT_SIZE=${arg#*=}; [[ -n $SPLIT_SIZE ]] || bad_flag "--split-size wants a size" ;;
    --only=*)
      ONLY=${arg#*=}
      [[ $ONLY == wordcount || $ONLY == terasort ]] || bad_flag "--only wants wordcount or terasort, not '$ONLY'" ;;
    *) bad_flag "unknown argument '$arg'" ;;
  esac
done

run_wordcount() { [[ $ONLY != terasort ]]; }
run_terasort() { [[ $ONLY != wordcount ]]; }
require_bins clusternodes-master clusternodes-agent clusternodes-executor clusternodes-mapreduce
require_tools curl jq md5sum timeout split
if run_wordcount; then require_fortunes; fi

# ---------------------------------------------------------------- work dir

enter_work_dir mapreduce

# ---------------------------------------------------------------- machine

machine_facts
CORES=$((AGENT_CPUS * AGENTS))
SORT_MEM=$((2 * TASK_MEM))
((TASK_MEM + 64 <= AGENT_MEM)) || die "--task-mem=$TASK_MEM does not fit an agent's mem:$AGENT_MEM with the executor's 64"
log "machine: nproc $NPROC, $MODEL, MemTotal $MEM_KB kB, Linux $KERNEL, load $LOAD_START"
log "work directory $WORK"

# ---------------------------------------------------------------- cluster

start_cluster

# The job's flags: one task per agent at a time. A task takes 0.9 cpus and
# the executor (one per agent) 0.1: the framework's default 1 + 0.1 would
# not fit an agent of one cpu.
# A --mr-flag replaces the default of the same name.
defaults=(--master="$MASTER" --reducers=2 --task-cpus=0.9 --executor-cpus=0.1)
[[ -n $SPLIT_SIZE ]] && defaults+=(--split-size="$SPLIT_SIZE")
with_defaults MR_FLAGS "${defaults[@]}"
JOB_FLAGS=("${OUT[@]}")

# run_job NAME ARGS...: runs clusternodes-mapreduce, its stdout (the job's
# summary) in NAME.summary and its stderr, each line stamped with the
# seconds since the start, in NAME.log. Sets JOB_SECONDS.
run_job() {
  local name=$1
  shift
  run_stamped "$name" "$WORK/$name.summary" clusternodes-mapreduce "$@"
}

summary_value() { awk -v k="$2" 'index($0, k " ") == 1 { print substr($0, length(k) + 2); exit }' "$WORK/$1.summary"; }

# The seconds at which the log's progress first showed every map done.
maps_done_at() {
  awk '$2 == "map" { split($3, a, "/"); if (a[1] == a[2]) { print $1; exit } }' "$WORK/$1.log"
}

# ---------------------------------------------------------------- wordcount

WC_OK=1
if run_wordcount; then
  make_text_input

  log "wordcount: (a) the coreutils pipeline"
  t0=$(now)
  cat "$WORK/text"/* | tr -cs 'A-Za-z' '\n' | tr 'A-Z' 'a-z' | grep -v '^$' | LC_ALL=C sort | uniq -c \
    >"$WORK/wc-coreutils.txt"
  t1=$(now)
  WC_CU=$(calc "$t1 - $t0" %.3f)
  log "wordcount: coreutils ${WC_CU}s; (b) clusternodes-mapreduce wordcount"
  run_job wordcount "${JOB_FLAGS[@]}" wordcount "$WORK/text" "$WORK/wc-out"
  WC_MR=$JOB_SECONDS

  sed -E 's/^ *([0-9]+) (.*)$/\2\t\1/' "$WORK/wc-coreutils.txt" | LC_ALL=C sort >"$WORK/wc-coreutils.norm"
  cat "$WORK/wc-out"/part-r-* | LC_ALL=C sort >"$WORK/wc-mapreduce.norm"
  WC_WORDS=$(wc -l <"$WORK/wc-coreutils.norm")
  WC_TOTAL=$(awk -F'\t' '{ s += $2 } END { print s }' "$WORK/wc-coreutils.norm")
  if cmp -s "$WORK/wc-coreutils.norm" "$WORK/wc-mapreduce.norm"; then
    WC_CHECK="same counts ($WC_WORDS distinct words, $WC_TOTAL words)"
  else
    WC_OK=0
    WC_CHECK="COUNTS DIFFER: $({ diff "$WORK/wc-coreutils.norm" "$WORK/wc-mapreduce.norm" || true; } | grep -c '^[<>]') lines (coreutils $WC_WORDS, mapreduce $(wc -l <"$WORK/wc-mapreduce.norm"))"
  fi
  WC_MAPS=$(summary_value wordcount maps)
  WC_ELAPSED=$(summary_value wordcount "elapsed seconds")
  WC_MAPS_DONE=$(maps_done_at wordcount)
  echo
  report "wordcount: $TEXT_MBF MB of fortunes text in $TEXT_FILES file(s)"
  report "$(printf '  %-34s %8.2f s  %7.2f MB/s' "coreutils pipeline" "$WC_CU" "$(calc "$TEXT_MBF / $WC_CU")")"
  report "$(printf '  %-34s %8.2f s  %7.2f MB/s' "clusternodes-mapreduce wordcount" "$WC_MR" "$(calc "$TEXT_MBF / $WC_MR")")"
  report "    job: elapsed ${WC_ELAPSED}s, ${WC_MAPS} maps, 2 reduces, all maps done at ${WC_MAPS_DONE:-?}s, split ${SPLIT_SIZE:-16M (default)}"
  report "  ratio coreutils time / mapreduce time: $(calc "$WC_CU / $WC_MR" %.3f)  (aim: > 1)"
  report "  check: $WC_CHECK"
fi

# ---------------------------------------------------------------- terasort

TS_OK=1
if run_terasort; then
  TERA_MB=$(calc "$TERA_ROWS * 100 / 1e6" %.1f)
  log "terasort: teragen $TERA_ROWS rows ($TERA_MB MB), 2 files"
  t0=$(now)
  "$BIN/clusternodes-mapreduce" teragen "$TERA_ROWS" "$WORK/tera-in" --files=2 >"$WORK/teragen.log" 2>&1 ||
    die "teragen failed: $(tail -n 1 "$WORK/teragen.log")"
  t1=$(now)
  TG=$(calc "$t1 - $t0" %.3f)

  log "terasort: (a) LC_ALL=C sort -S ${SORT_MEM}M --parallel=2"
  mkdir "$WORK/sort-tmp"
  t0=$(now)
  LC_ALL=C sort -S "${SORT_MEM}M" --parallel=2 -T "$WORK/sort-tmp" "$WORK/tera-in"/part-* -o "$WORK/tera-sorted"
  t1=$(now)
  TS_SORT=$(calc "$t1 - $t0" %.3f)
  log "terasort: GNU sort ${TS_SORT}s; (b) clusternodes-mapreduce terasort --task-mem=$TASK_MEM"
  run_job terasort "${JOB_FLAGS[@]}" --task-mem="$TASK_MEM" terasort "$WORK/tera-in" "$WORK/tera-out"
  TS_MR=$JOB_SECONDS

  log "terasort: teravalidate and md5"
  if "$BIN/clusternodes-mapreduce" teravalidate "$WORK/tera-out" --input="$WORK/tera-in" \
    >"$WORK/teravalidate.log" 2>&1; then
    TV="teravalidate ok"
  else
    TS_OK=0
    TV="TERAVALIDATE FAILED: $(tail -n 1 "$WORK/teravalidate.log")"
  fi
  md5_sort=$(md5sum <"$WORK/tera-sorted" | cut -d' ' -f1)
  md5_mr=$(cat "$WORK/tera-out"/part-r-* | md5sum | cut -d' ' -f1)
  if [[ $md5_sort == "$md5_mr" ]]; then
    MD5="md5 same as GNU sort's ($md5_mr)"
  else
    MD5="md5 DIFFERS from GNU sort's ($md5_mr against $md5_sort; teravalidate decides)"
  fi
  TS_MAPS=$(summary_value terasort maps)
  TS_ELAPSED=$(summary_value terasort "elapsed seconds")
  TS_MAPS_DONE=$(maps_done_at terasort)
  sort_mbs=$(calc "$TERA_MB / $TS_SORT")
  mr_mbs=$(calc "$TERA_MB / $TS_MR")
  echo
  report "terasort: $TERA_ROWS rows, $TERA_MB MB in 2 files; $CORES cores"
  report "$(printf '  %-34s %8.2f s  %7.2f MB/s' "teragen (one process)" "$TG" "$(calc "$TERA_MB / $TG")")"
  report "$(printf '  %-34s %8.2f s  %7.2f MB/s  %6.2f MB/s per core' "GNU sort -S ${SORT_MEM}M --parallel=2" \
    "$TS_SORT" "$sort_mbs" "$(calc "$sort_mbs / $CORES")")"
  report "$(printf '  %-34s %8.2f s  %7.2f MB/s  %6.2f MB/s per core' "clusternodes-mapreduce terasort" \
    "$TS_MR" "$mr_mbs" "$(calc "$mr_mbs / $CORES")")"
  report "    job: elapsed ${TS_ELAPSED}s, ${TS_MAPS} maps, 2 reduces, --task-mem=$TASK_MEM, all maps done at ${TS_MAPS_DONE:-?}s, split ${SPLIT_SIZE:-16M (default)}"
  report "  ratio mapreduce speed / sort speed: $(calc "$TS_SORT / $TS_MR" %.3f)  (aim: >= 0.5)"
  report "  scale: Spark's 2014 sort record about 11 MB/s per core, Hadoop's about 0.5 MB/s per core"
  report "  check: $TV; $MD5"
fi

# ---------------------------------------------------------------- summary

LOAD_END=$(load)
echo
echo "==== summary ===="
echo "command: bench/mapreduce.sh --text-mb=$TEXT_MB --tera-rows=$TERA_ROWS --task-mem=$TASK_MEM${SPLIT_SIZE:+ --split-size=$SPLIT_SIZE}${ONLY:+ --only=$ONLY}"
echo "cluster: 1 master, $AGENTS agents of cpus:$AGENT_CPUS;mem:$AGENT_MEM (isolation cgroups); jobs: --reducers=2 --task-cpus=0.9 --executor-cpus=0.1"
for line in "${REPORT[@]}"; do echo "$line"; done
echo "machine: nproc $NPROC, $MODEL, MemTotal $MEM_KB kB, Linux $KERNEL; $START_DATE, load $LOAD_START at the start, $LOAD_END at the end"

((WC_OK)) || die "wordcount: the counts differ from coreutils'; outputs in $WORK"
((TS_OK)) || die "terasort: teravalidate failed; outputs in $WORK"
exit 0
