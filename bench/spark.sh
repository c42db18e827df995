#!/usr/bin/env bash
# The Spark-style framework (examples/spark) on a local cluster (one master,
# two agents of one core each), in one run:
#   wordcount: clusternodes-spark-wordcount against clusternodes-mapreduce
#              wordcount, same input, same cluster
#   pagerank:  clusternodes-spark-pagerank on a generated graph, with the
#              graph cached and with --no-cache
# Each pair runs --rounds times, in an order that alternates from round to
# round. It prints seconds and the ratios per round, then a summary block
# and the machine. See bench/README.md and docs/benchmarks.md.
set -euo pipefail

PROG=spark.sh
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

usage() {
  cat <<EOF
Usage: bench/spark.sh [OPTIONS]

Starts a master and two agents (cpus:1 each, isolation cgroups, loopback
ports) in a work directory, then, --rounds times, in an order that
alternates from round to round:

  wordcount  clusternodes-spark-wordcount IN OUT-SPARK and
             clusternodes-mapreduce --reducers=2 wordcount IN OUT-MR
             on the same text; the sorted outputs must be the same.
             Ratio: MapReduce's time / Spark's
  pagerank   clusternodes-spark-pagerank GRAPH --iterations N --top 20,
             with the graph cached (the program's default) and with
             --no-cache; the top pages must be the same.
             Ratio: the --no-cache time / the cached time

Options:
  --bin=DIR            the daemons, clusternodes-mapreduce and the
                       clusternodes-spark-* programs (default: build/bin)
  --text-mb=N          wordcount input, MB (10^6 bytes) of fortunes texts (default 100)
  --text-file-mb=N     size of each wordcount input file, MB (default 10)
  --pages=N            pages of the generated graph (default 200000)
  --links=N            links per page on average, N/2 to 3N/2 (default 10)
  --seed=N             the graph generator's seed (default 1)
  --iterations=N       pagerank iterations (default 10)
  --rounds=N           rounds of each pair (default 2)
  --executor-mem=MiB   mem of each Spark executor (default 512, the framework's)
  --spark-flag=FLAG    extra flag for every Spark program, repeatable
  --mr-flag=FLAG       extra flag for the MapReduce job, repeatable
  --only=JOB           wordcount or pagerank (default: both)
  --work=DIR           work directory, empty or new (default: a mktemp dir
                       under /tmp); removed at the end unless --keep
  --keep               keep the work directory (logs, inputs, outputs)
  --job-timeout=SEC    a job that runs longer fails the run (default 1800)
  -h, --help           this help

Exit status: 0 when every job ran and the outputs matched; 1 otherwise,
with a one-line reason on stderr; 2 on a bad flag.
EOF
}

# shellcheck source-path=SCRIPTDIR source=common.sh
. "$ROOT/bench/common.sh"

PAGES=200000
LINKS=10
SEED=1
ITERATIONS=10
ROUNDS=2
EXEC_MEM=512
SPARK_FLAGS=()

for arg in "$@"; do
  common_flag "$arg" && continue
  case $arg in
    --pages=*) PAGES=${arg#*=}; is_uint "$PAGES" || bad_flag "--pages wants a positive whole number" ;;
    --links=*) LINKS=${arg#*=}; is_uint "$LINKS" || bad_flag "--links wants a positive whole number" ;;
    --seed=*) SEED=${arg#*=}; is_uint "$SEED" || bad_flag "--seed wants a positive whole number" ;;
    --iterations=*) ITERATIONS=${arg#*=}; is_uint "$ITERATIONS" || bad_flag "--iterations wants a positive whole number" ;;
    --rounds=*) ROUNDS=${arg#*=}; is_uint "$ROUNDS" || bad_flag "--rounds wants a positive whole number" ;;
    --executor-mem=*) EXEC_MEM=${arg#*=}; is_uint "$EXEC_MEM" || bad_flag "--executor-mem wants a positive whole number of MiB" ;;
    --spark-flag=*) SPARK_FLAGS+=("${arg#*=}") ;;
    --only=*)
      ONLY=${arg#*=}
      [[ $ONLY == wordcount || $ONLY == pagerank ]] || bad_flag "--only wants wordcount or pagerank, not '$ONLY'" ;;
    *) bad_flag "unknown argument '$arg'" ;;
  esac
done

run_wordcount() { [[ $ONLY != pagerank ]]; }
run_pagerank() { [[ $ONLY != wordcount ]]; }

needed=(clusternodes-master clusternodes-agent)
run_wordcount && needed+=(clusternodes-executor clusternodes-mapreduce clusternodes-spark-wordcount)
run_pagerank && needed+=(clusternodes-spark-pagerank)
require_bins "${needed[@]}"
require_tools curl jq timeout split awk
if run_wordcount; then require_fortunes; fi

# ---------------------------------------------------------------- work dir

enter_work_dir spark

# ---------------------------------------------------------------- machine

machine_facts
OS=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}") || OS="?"
if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then CGROUPS="cgroups v2"; else CGROUPS="cgroups v1"; fi
((EXEC_MEM <= AGENT_MEM)) || die "--executor-mem=$EXEC_MEM does not fit an agent's mem:$AGENT_MEM"
MACHINE="nproc $NPROC, $MODEL, MemTotal $MEM_KB kB, Linux $KERNEL, $OS, $CGROUPS"
log "machine: $MACHINE, load $LOAD_START"
log "work directory $WORK"

# ---------------------------------------------------------------- cluster

start_cluster

# MapReduce: one task per agent at a time (0.9 cpus, and 0.1 for the
# executor), as bench/mapreduce.sh runs it.
with_defaults MR_FLAGS --master="$MASTER" --reducers=2 --task-cpus=0.9 --executor-cpus=0.1
MR_JOB_FLAGS=("${OUT[@]}")
# Spark: one executor of one core on each agent. --max-executors=2 lets the
# driver start as soon as both are ready; with 0 (one on every agent) it
# waits until no executor has come for a second.
with_defaults SPARK_FLAGS --master="$MASTER" --executor-cpus=1 --executor-mem="$EXEC_MEM" --max-executors="$AGENTS"
SPARK_JOB_FLAGS=("${OUT[@]}")

# No framework, task or executor left on the master: the last job's
# tear-down is over before the next job starts.
cluster_idle() {
  local n
  n=$(master_state | jq '(.frameworks | length) + (.tasks | length) + ([.agents[].executors[]?] | length)' 2>/dev/null) || return 1
  [[ $n == 0 ]]
}

# run_job NAME PROGRAM ARGS...: runs $BIN/PROGRAM, its stdout in NAME.out
# and its stderr, each line stamped with the seconds since the start, in
# NAME.log. Waits first until the cluster has no framework or task left
# from the job before. Sets JOB_SECONDS.
run_job() {
  local name=$1 program=$2
  shift 2
  wait_for 60 "the previous job's framework or tasks still on the master" cluster_idle
  run_stamped "$name" "$WORK/$name.out" "$program" "$@"
}

# From a Spark program's stamped log: the stamp of the last "executor ...
# ready" line (both executors up), and the sum of its jobs' own times.
spark_ready_at() { awk '$2 == "spark:" && $3 == "executor" && $7 == "ready" { t = $1 } END { print t == "" ? "?" : t }' "$WORK/$1.log"; }
spark_jobs_seconds() {
  awk '$2 == "job" && $7 == "finished" && $8 == "in" { s += $9 } END { printf "%.2f", s }' "$WORK/$1.log"
}
# From a MapReduce summary (stdout): the value of "KEY VALUE".
mr_summary() { awk -v k="$2" 'index($0, k " ") == 1 { print substr($0, length(k) + 2); exit }' "$WORK/$1.out"; }

# round_order R FIRST SECOND: order=(FIRST SECOND) in odd rounds, (SECOND
# FIRST) in even ones, so that a drift in the machine's speed weighs on both.
round_order() { if (($1 % 2)); then order=("$2" "$3"); else order=("$3" "$2"); fi; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

FAILED=()

# ---------------------------------------------------------------- wordcount

if run_wordcount; then
  make_text_input

  echo
  report "wordcount: $TEXT_MBF MB of fortunes text in $TEXT_FILES file(s); time from spawn to exit"
  WC_RATIOS=()
  for r in $(seq "$ROUNDS"); do
    round_order "$r" spark mr
    for side in "${order[@]}"; do
      rm -rf "$WORK/wc-$side-out"
      if [[ $side == spark ]]; then
        log "wordcount round $r: clusternodes-spark-wordcount"
        run_job "wc-spark-$r" clusternodes-spark-wordcount "${SPARK_JOB_FLAGS[@]}" "$WORK/text" "$WORK/wc-spark-out"
        WC_SPARK=$JOB_SECONDS
      else
        log "wordcount round $r: clusternodes-mapreduce wordcount"
        run_job "wc-mr-$r" clusternodes-mapreduce "${MR_JOB_FLAGS[@]}" wordcount "$WORK/text" "$WORK/wc-mr-out"
        WC_MR=$JOB_SECONDS
      fi
    done
    cat "$WORK/wc-spark-out"/part-* | LC_ALL=C sort >"$WORK/wc-spark.norm"
    cat "$WORK/wc-mr-out"/part-r-* | LC_ALL=C sort >"$WORK/wc-mr.norm"
    words=$(wc -l <"$WORK/wc-mr.norm")
    total=$(awk -F'\t' '{ s += $2 } END { print s }' "$WORK/wc-mr.norm")
    if cmp -s "$WORK/wc-spark.norm" "$WORK/wc-mr.norm"; then
      check="same counts ($words distinct words, $total words)"
    else
      check="COUNTS DIFFER: $({ diff "$WORK/wc-spark.norm" "$WORK/wc-mr.norm" || true; } | grep -c '^[<>]') lines (spark $(wc -l <"$WORK/wc-spark.norm"), mapreduce $words)"
      FAILED+=("wordcount round $r: the counts differ")
    fi
    ratio=$(calc "$WC_MR / $WC_SPARK" %.3f)
    WC_RATIOS+=("$ratio")
    spark_parts=$(find "$WORK/wc-spark-out" -name 'part-*' | wc -l)
    report "  round $r (${order[0]} first, load $(load))"
    report "$(printf '    %-34s %8.2f s  %7.2f MB/s  executors ready at %ss, job %ss, %s output parts' \
      "clusternodes-spark-wordcount" "$WC_SPARK" "$(calc "$TEXT_MBF / $WC_SPARK")" \
      "$(spark_ready_at "wc-spark-$r")" "$(spark_jobs_seconds "wc-spark-$r")" "$spark_parts")"
    report "$(printf '    %-34s %8.2f s  %7.2f MB/s  job elapsed %ss, %s maps, 2 reduces' \
      "clusternodes-mapreduce wordcount" "$WC_MR" "$(calc "$TEXT_MBF / $WC_MR")" \
      "$(mr_summary "wc-mr-$r" "elapsed seconds")" "$(mr_summary "wc-mr-$r" maps)")"
    report "    ratio mapreduce time / spark time: $ratio; check: $check"
  done
fi

# ---------------------------------------------------------------- pagerank

# The graph: page pN links to N/2..3N/2 pages (--links N), drawn with a
# bias to low numbers (u^2 of a uniform u) so that ranks spread out. A
# MINSTD generator in awk, so the graph is the same with any awk.
generate_graph() {
  awk -v n="$PAGES" -v links="$LINKS" -v seed="$SEED" '
    function next_u() { x = (x * 48271) % 2147483647; return x / 2147483647 }
    BEGIN {
      x = seed % 2147483646 + 1
      lo = int(links / 2); span = links - lo + links - lo + 1
      for (p = 0; p < n; p++) {
        line = "p" p
        k = lo + int(next_u() * span)
        for (j = 0; j < k; j++) { u = next_u(); line = line " p" int(n * u * u) }
        print line
      }
    }'
}

# The "iteration N: P pages, S source reads, C cache hits" lines of a log,
# with the job line before each and its stages' progress lines:
# "N JOB_SECONDS SOURCE_READS CACHE_HITS GRAPH_STAGE_SECONDS". The graph
# stage is the job's flatMap stage of the lowest source line (parse_links,
# the first in the program): from its "0/N tasks" line to its "N/N tasks".
iterations_of() {
  awk '$2 == "stage" && $4 == "(flatMap" {
         line = $6; sub(/^.*:/, "", line); sub(/\).*$/, "", line)
         split($7, k, "/")
         if (!($3 in start)) start[$3] = $1
         if (k[1] == k[2]) end[$3] = $1
         if (best == "" || line + 0 < best_line) { best = $3; best_line = line + 0 }
         if ($3 == best) graph = end[$3] == "" ? "?" : sprintf("%.2f", end[$3] - start[$3])
       }
       $2 == "job" && $4 == "(count" { t = $9 }
       $2 == "iteration" { sub(":", "", $3); print $3, t, $6, $9, graph; best = ""; graph = "?" }' "$WORK/$1.log"
}

if run_pagerank; then
  log "pagerank: generating a graph of $PAGES pages, $LINKS links a page on average, seed $SEED"
  generate_graph >"$WORK/graph.txt"
  GRAPH_MB=$(calc "$(stat -c %s "$WORK/graph.txt") / 1e6" %.1f)
  GRAPH_LINKS=$(awk '{ s += NF - 1 } END { print s }' "$WORK/graph.txt")
  log "pagerank: $GRAPH_MB MB, $GRAPH_LINKS links"

  echo
  report "pagerank: $PAGES pages, $GRAPH_LINKS links ($GRAPH_MB MB, seed $SEED), $ITERATIONS iterations; time from spawn to exit"
  PR_RATIOS=()
  for r in $(seq "$ROUNDS"); do
    round_order "$r" cache nocache
    declare -A PR_T=()
    for side in "${order[@]}"; do
      flags=()
      [[ $side == nocache ]] && flags=(--no-cache)
      log "pagerank round $r: clusternodes-spark-pagerank ${flags[*]}"
      run_job "pr-$side-$r" clusternodes-spark-pagerank "${SPARK_JOB_FLAGS[@]}" "${flags[@]}" \
        --iterations="$ITERATIONS" --top=20 "$WORK/graph.txt"
      PR_T[$side]=$JOB_SECONDS
    done
    ratio=$(calc "${PR_T[nocache]} / ${PR_T[cache]}" %.3f)
    PR_RATIOS+=("$ratio")
    if cmp -s "$WORK/pr-cache-$r.out" "$WORK/pr-nocache-$r.out" && [[ -s $WORK/pr-cache-$r.out ]]; then
      check="same top 20 (first $(head -n 1 "$WORK/pr-cache-$r.out" | tr '\t' ' '))"
    else
      check="TOP PAGES DIFFER"
      FAILED+=("pagerank round $r: the top pages differ")
    fi
    if ((r > 1)) && ! cmp -s "$WORK/pr-cache-1.out" "$WORK/pr-cache-$r.out"; then
      check="$check; TOP PAGES DIFFER FROM ROUND 1"
      FAILED+=("pagerank round $r: the top pages differ from round 1's")
    fi
    report "  round $r (${order[0]} first, load $(load))"
    for side in cache nocache; do
      name=pr-$side-$r
      # iteration 1, then the mean of the later ones, their source reads,
      # cache hits and graph stage
      read -r it1 it1_reads later later_reads hits graph <<<"$(iterations_of "$name" | awk '
        $1 == 1 { t1 = $2; r1 = $3 }
        $1 > 1 { n++; s += $2; reads[$3] = 1; h += $4; g += $5 }
        END {
          rs = ""; for (k in reads) rs = rs (rs == "" ? "" : ",") k
          if (n) printf "%s %s %.2f %s %s %.2f\n", t1, r1, s / n, rs, h / n, g / n
          else printf "%s %s ? ? ? ?\n", t1, r1
        }')"
      label="clusternodes-spark-pagerank"
      [[ $side == nocache ]] && label="$label --no-cache"
      report "$(printf '    %-40s %8.2f s  ready at %ss, jobs %ss; iteration 1 %ss (%s source reads); later ones %ss each (%s source reads, %s cache hits, graph stage %ss)' \
        "$label" "${PR_T[$side]}" "$(spark_ready_at "$name")" "$(spark_jobs_seconds "$name")" \
        "$it1" "$it1_reads" "$later" "$later_reads" "$hits" "$graph")"
    done
    report "    ratio no-cache time / cache time: $ratio; check: $check"
  done
fi

# ---------------------------------------------------------------- summary

LOAD_END=$(load)
echo
echo "==== summary ===="
echo "command: bench/spark.sh --text-mb=$TEXT_MB --pages=$PAGES --links=$LINKS --seed=$SEED --iterations=$ITERATIONS --rounds=$ROUNDS --executor-mem=$EXEC_MEM${ONLY:+ --only=$ONLY}"
echo "cluster: 1 master, $AGENTS agents of cpus:$AGENT_CPUS;mem:$AGENT_MEM (isolation cgroups)"
echo "spark: ${SPARK_JOB_FLAGS[*]}"
run_wordcount && echo "mapreduce: ${MR_JOB_FLAGS[*]}"
for line in "${REPORT[@]}"; do echo "$line"; done
run_wordcount && echo "wordcount ratio (mapreduce time / spark time): by round ${WC_RATIOS[*]}; median $(median "${WC_RATIOS[@]}")"
run_pagerank && echo "pagerank ratio (no-cache time / cache time): by round ${PR_RATIOS[*]}; median $(median "${PR_RATIOS[@]}")"
echo "machine: $MACHINE; $START_DATE, load $LOAD_START at the start, $LOAD_END at the end"

((${#FAILED[@]} == 0)) || die "$(IFS=';'; echo "${FAILED[*]}"); outputs in $WORK"
exit 0
