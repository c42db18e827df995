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

die() {
  echo "$PROG: $*" >&2
  exit 1
}
bad_flag() {
  echo "$PROG: $* (see --help)" >&2
  exit 2
}

BIN=$ROOT/build/bin
TEXT_MB=100
TEXT_FILE_MB=10
PAGES=200000
LINKS=10
SEED=1
ITERATIONS=10
ROUNDS=2
EXEC_MEM=512
SPARK_FLAGS=()
MR_FLAGS=()
ONLY=
WORK=
KEEP=0
JOB_TIMEOUT=1800

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0)); }

for arg in "$@"; do
  case $arg in
    -h | --help) usage; exit 0 ;;
    --bin=*) BIN=${arg#*=} ;;
    --text-mb=*) TEXT_MB=${arg#*=}; is_uint "$TEXT_MB" || bad_flag "--text-mb wants a positive whole number" ;;
    --text-file-mb=*) TEXT_FILE_MB=${arg#*=}; is_uint "$TEXT_FILE_MB" || bad_flag "--text-file-mb wants a positive whole number" ;;
    --pages=*) PAGES=${arg#*=}; is_uint "$PAGES" || bad_flag "--pages wants a positive whole number" ;;
    --links=*) LINKS=${arg#*=}; is_uint "$LINKS" || bad_flag "--links wants a positive whole number" ;;
    --seed=*) SEED=${arg#*=}; is_uint "$SEED" || bad_flag "--seed wants a positive whole number" ;;
    --iterations=*) ITERATIONS=${arg#*=}; is_uint "$ITERATIONS" || bad_flag "--iterations wants a positive whole number" ;;
    --rounds=*) ROUNDS=${arg#*=}; is_uint "$ROUNDS" || bad_flag "--rounds wants a positive whole number" ;;
    --executor-mem=*) EXEC_MEM=${arg#*=}; is_uint "$EXEC_MEM" || bad_flag "--executor-mem wants a positive whole number of MiB" ;;
    --spark-flag=*) SPARK_FLAGS+=("${arg#*=}") ;;
    --mr-flag=*) MR_FLAGS+=("${arg#*=}") ;;
    --only=*)
      ONLY=${arg#*=}
      [[ $ONLY == wordcount || $ONLY == pagerank ]] || bad_flag "--only wants wordcount or pagerank, not '$ONLY'" ;;
    --work=*) WORK=${arg#*=}; [[ -n $WORK ]] || bad_flag "--work wants a directory" ;;
    --keep) KEEP=1 ;;
    --job-timeout=*) JOB_TIMEOUT=${arg#*=}; is_uint "$JOB_TIMEOUT" || bad_flag "--job-timeout wants seconds" ;;
    *) bad_flag "unknown argument '$arg'" ;;
  esac
done

run_wordcount() { [[ $ONLY != pagerank ]]; }
run_pagerank() { [[ $ONLY != wordcount ]]; }

[[ $BIN == /* ]] || BIN=$ROOT/$BIN
needed=(clusternodes-master clusternodes-agent)
run_wordcount && needed+=(clusternodes-executor clusternodes-mapreduce clusternodes-spark-wordcount)
run_pagerank && needed+=(clusternodes-spark-pagerank)
for b in "${needed[@]}"; do
  [[ -x $BIN/$b ]] || die "no $BIN/$b (build it, or give --bin=DIR)"
done
for tool in curl jq timeout split awk; do
  command -v "$tool" >/dev/null || die "needs $tool on PATH"
done
FORTUNES=/usr/share/games/fortunes
if run_wordcount && ! compgen -G "$FORTUNES/*" >/dev/null; then
  die "no texts in $FORTUNES: apt-get install -y fortunes (scripts/setup.sh lists it)"
fi

# ---------------------------------------------------------------- work dir

CREATED_WORK=0
if [[ -z $WORK ]]; then
  WORK=$(mktemp -d /tmp/cn-bench-spark-XXXXXX)
  CREATED_WORK=1
else
  [[ $WORK == /* ]] || WORK=$PWD/$WORK
  if [[ -e $WORK ]]; then
    [[ -d $WORK ]] || die "--work=$WORK is not a directory"
    [[ -z $(ls -A "$WORK") ]] || die "--work=$WORK is not empty"
  else
    mkdir -p "$WORK" || die "cannot create $WORK"
    CREATED_WORK=1
  fi
fi

PIDS=()
cleanup() {
  local rc=$?
  set +e
  trap - EXIT INT TERM
  for pid in "${PIDS[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  for _ in $(seq 50); do
    local alive=0
    for pid in "${PIDS[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    ((alive)) || break
    sleep 0.1
  done
  for pid in "${PIDS[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; kill -KILL "$pid" 2>/dev/null; done
  # Executors and their tasks run in sessions of their own, in sandboxes
  # under the work directory: anything whose cwd is there is ours.
  for _ in 1 2 3; do
    local any=0 p cwd
    for p in /proc/[0-9]*; do
      cwd=$(readlink "$p/cwd" 2>/dev/null) || continue
      [[ $cwd == "$WORK" || $cwd == "$WORK"/* ]] || continue
      [[ ${p#/proc/} == "$$" ]] && continue
      kill -KILL "${p#/proc/}" 2>/dev/null && any=1
    done
    ((any)) || break
    sleep 0.1
  done
  wait 2>/dev/null
  if ((KEEP)); then
    echo "work directory kept: $WORK" >&2
  elif ((CREATED_WORK)); then
    rm -rf "$WORK"
  else
    find "$WORK" -mindepth 1 -delete 2>/dev/null
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "$PROG: line $LINENO: a command failed (status $?)" >&2' ERR
trap 'exit 130' INT
trap 'exit 143' TERM
cd "$WORK"

# ---------------------------------------------------------------- helpers

now() { echo "$EPOCHREALTIME"; }
# calc EXPR: awk arithmetic, printed with the format $2 (default %.2f)
calc() { awk "BEGIN { printf \"${2:-%.2f}\", $1 }"; }
log() { echo "[$(date +%T)] $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# Distinct free TCP ports on 127.0.0.1, as the test harness picks them: bind
# port 0, read the port, close. All are held until all are picked.
free_ports() {
  local n=$1
  if command -v python3 >/dev/null && python3 -c '' 2>/dev/null; then
    python3 - "$n" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
  else
    local used out=() p
    used=$(ss -Htan | awk '{ n = split($4, a, ":"); print a[n] }' | sort -u)
    while ((${#out[@]} < n)); do
      p=$((20000 + RANDOM % 30000))
      grep -qx "$p" <<<"$used" || [[ " ${out[*]} " == *" $p "* ]] || out+=("$p")
    done
    echo "${out[@]}"
  fi
}

wait_for() {  # wait_for SECONDS WHAT COMMAND...
  local seconds=$1 what=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || die "$what within ${seconds}s; logs in $WORK (use --keep to keep them)"
    sleep 0.1
  done
}

master_state() { curl -sf --max-time 2 "http://127.0.0.1:$MASTER_HTTP/state"; }
reachable_agents() { master_state | jq '[.agents[]? | select(.reachable == true)] | length' 2>/dev/null; }
two_agents() { [[ $(reachable_agents) -ge 2 ]] 2>/dev/null; }
master_health() { curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$MASTER_HTTP/health"; }
# No framework, task or executor left on the master: the last job's
# tear-down is over before the next job starts.
cluster_idle() {
  local n
  n=$(master_state | jq '(.frameworks | length) + (.tasks | length) + ([.agents[].executors[]?] | length)' 2>/dev/null) || return 1
  [[ $n == 0 ]]
}

# ---------------------------------------------------------------- machine

NPROC=$(nproc)
MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_KB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
MEM_MIB=$((MEM_KB / 1024))
KERNEL=$(uname -r)
OS=$(. /etc/os-release 2>/dev/null && echo "${PRETTY_NAME:-?}") || OS="?"
if [[ $(stat -fc %T /sys/fs/cgroup 2>/dev/null) == cgroup2fs ]]; then CGROUPS="cgroups v2"; else CGROUPS="cgroups v1"; fi
LOAD_START=$(load)
START_DATE=$(date '+%Y-%m-%d %H:%M')
# Each agent gets one core and 40% of the RAM: the cluster has the 2 cores
# of the machine this was written for, and room beside it for the OS.
AGENT_CPUS=1
AGENTS=2
AGENT_MEM=$((MEM_MIB * 4 / 10))
((EXEC_MEM <= AGENT_MEM)) || die "--executor-mem=$EXEC_MEM does not fit an agent's mem:$AGENT_MEM"
MACHINE="nproc $NPROC, $MODEL, MemTotal $MEM_KB kB, Linux $KERNEL, $OS, $CGROUPS"
log "machine: $MACHINE, load $LOAD_START"
log "work directory $WORK"

# ---------------------------------------------------------------- cluster

read -r MASTER_PORT MASTER_HTTP A0_PORT A0_HTTP A1_PORT A1_HTTP <<<"$(free_ports 6)"
MASTER=127.0.0.1:$MASTER_PORT

# setsid: each daemon leads a process group of its own, killed as one.
setsid "$BIN/clusternodes-master" --ip=127.0.0.1 --port="$MASTER_PORT" --http-port="$MASTER_HTTP" \
  --work-dir="$WORK/master" </dev/null >"$WORK/master.log" 2>&1 &
PIDS+=($!)
wait_for 20 "the master did not answer /health" master_health
agent_ports=("$A0_PORT $A0_HTTP" "$A1_PORT $A1_HTTP")
for i in 0 1; do
  read -r port http <<<"${agent_ports[$i]}"
  setsid "$BIN/clusternodes-agent" --master="$MASTER" --ip=127.0.0.1 --port="$port" --http-port="$http" \
    --work-dir="$WORK/agent-$i" --launcher-dir="$BIN" --resources="cpus:$AGENT_CPUS;mem:$AGENT_MEM" \
    </dev/null >"$WORK/agent-$i.log" 2>&1 &
  PIDS+=($!)
done
wait_for 30 "two agents did not register with the master" two_agents
log "cluster up: master $MASTER (http $MASTER_HTTP), 2 agents of cpus:$AGENT_CPUS;mem:$AGENT_MEM"

# with_defaults ARRAY DEFAULTS...: the defaults a flag of ARRAY does not
# replace (same name), then ARRAY's flags, in OUT.
with_defaults() {
  local -n extra=$1
  shift
  OUT=()
  local d f replaced
  for d in "$@"; do
    replaced=0
    for f in "${extra[@]}"; do [[ ${f%%=*} == "${d%%=*}" ]] && replaced=1; done
    ((replaced)) || OUT+=("$d")
  done
  OUT+=("${extra[@]}")
}

# MapReduce: one task per agent at a time (0.9 cpus, and 0.1 for the
# executor), as bench/mapreduce.sh runs it.
with_defaults MR_FLAGS --master="$MASTER" --reducers=2 --task-cpus=0.9 --executor-cpus=0.1
MR_JOB_FLAGS=("${OUT[@]}")
# Spark: one executor of one core on each agent. --max-executors=2 lets the
# driver start as soon as both are ready; with 0 (one on every agent) it
# waits until no executor has come for a second.
with_defaults SPARK_FLAGS --master="$MASTER" --executor-cpus=1 --executor-mem="$EXEC_MEM" --max-executors="$AGENTS"
SPARK_JOB_FLAGS=("${OUT[@]}")

# run_job NAME PROGRAM ARGS...: runs $BIN/PROGRAM, its stdout in NAME.out
# and its stderr, each line stamped with the seconds since the start, in
# NAME.log. Waits first until the cluster has no framework or task left
# from the job before. Sets JOB_SECONDS.
run_job() {
  local name=$1 program=$2
  shift 2
  wait_for 60 "the previous job's framework or tasks still on the master" cluster_idle
  local t0 t1 rc=0
  t0=$(now)
  # Stamped in bash arithmetic (microseconds): no process per line, since
  # the Spark programs print a line per task and the machine has 2 cores.
  timeout "$JOB_TIMEOUT" "$BIN/$program" "$@" >"$WORK/$name.out" \
    2> >(t0us=${t0//[!0-9]/}; while IFS= read -r line; do
      d=$((${EPOCHREALTIME//[!0-9]/} - t0us))
      printf '%4d.%02d %s\n' $((d / 1000000)) $((d % 1000000 / 10000)) "$line"
    done >"$WORK/$name.log") || rc=$?
  t1=$(now)
  sleep 0.2  # the stamping loop's last lines
  JOB_SECONDS=$(calc "$t1 - $t0" %.3f)
  if ((rc != 0)); then
    echo "--- $name: last lines of its log ---" >&2
    tail -n 5 "$WORK/$name.log" >&2
    ((rc == 124)) && die "$name: still running after ${JOB_TIMEOUT}s (a hang?); logs in $WORK"
    die "$name: $program exited $rc; logs in $WORK"
  fi
}

# From a Spark program's stamped log: the stamp of the last "executor ...
# ready" line (both executors up), and the sum of its jobs' own times.
spark_ready_at() { awk '$2 == "spark:" && $3 == "executor" && $7 == "ready" { t = $1 } END { print t == "" ? "?" : t }' "$WORK/$1.log"; }
spark_jobs_seconds() {
  awk '$2 == "job" && $7 == "finished" && $8 == "in" { s += $9 } END { printf "%.2f", s }' "$WORK/$1.log"
}
# From a MapReduce summary (stdout): the value of "KEY VALUE".
mr_summary() { awk -v k="$2" 'index($0, k " ") == 1 { print substr($0, length(k) + 2); exit }' "$WORK/$1.out"; }

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f", NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

REPORT=()
report() { REPORT+=("$*"); echo "$*"; }
FAILED=()

# ---------------------------------------------------------------- wordcount

if run_wordcount; then
  log "wordcount: building $TEXT_MB MB of text from $FORTUNES"
  mkdir "$WORK/text"
  mapfile -t texts < <(find "$FORTUNES" -maxdepth 1 -type f ! -name '*.*' | LC_ALL=C sort)
  ((${#texts[@]} > 0)) || die "no plain text files in $FORTUNES"
  # One copy of every text, repeated; cut to size, in files of whole lines
  # (the same input as bench/mapreduce.sh's).
  cat "${texts[@]}" >"$WORK/one-copy"
  copies=$(((TEXT_MB * 1000000) / $(stat -c %s "$WORK/one-copy") + 1))
  for _ in $(seq "$copies"); do cat "$WORK/one-copy" 2>/dev/null || break; done | head -c $((TEXT_MB * 1000000)) |
    split -C $((TEXT_FILE_MB * 1000000)) -d -a 4 - "$WORK/text/text-"
  rm "$WORK/one-copy"
  TEXT_BYTES=$(cat "$WORK/text"/* | wc -c)
  TEXT_FILES=$(find "$WORK/text" -type f | wc -l)
  TEXT_MBF=$(calc "$TEXT_BYTES / 1e6" %.1f)
  log "wordcount: $TEXT_MBF MB in $TEXT_FILES files, from ${#texts[@]} texts"

  echo
  report "wordcount: $TEXT_MBF MB of fortunes text in $TEXT_FILES file(s); time from spawn to exit"
  WC_RATIOS=()
  for r in $(seq "$ROUNDS"); do
    if ((r % 2)); then order=(spark mr); else order=(mr spark); fi
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
      check="COUNTS DIFFER: $(diff "$WORK/wc-spark.norm" "$WORK/wc-mr.norm" | grep -c '^[<>]') lines (spark $(wc -l <"$WORK/wc-spark.norm"), mapreduce $words)"
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
    if ((r % 2)); then order=(cache nocache); else order=(nocache cache); fi
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
