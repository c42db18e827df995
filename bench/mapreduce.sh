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
TERA_ROWS=10000000
TASK_MEM=2048
SPLIT_SIZE=
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
    --tera-rows=*) TERA_ROWS=${arg#*=}; is_uint "$TERA_ROWS" || bad_flag "--tera-rows wants a positive whole number" ;;
    --task-mem=*) TASK_MEM=${arg#*=}; is_uint "$TASK_MEM" || bad_flag "--task-mem wants a positive whole number of MiB" ;;
    --split-size=*) SPLIT_SIZE=${arg#*=}; [[ -n $SPLIT_SIZE ]] || bad_flag "--split-size wants a size" ;;
    --mr-flag=*) MR_FLAGS+=("${arg#*=}") ;;
    --only=*)
      ONLY=${arg#*=}
      [[ $ONLY == wordcount || $ONLY == terasort ]] || bad_flag "--only wants wordcount or terasort, not '$ONLY'" ;;
    --work=*) WORK=${arg#*=}; [[ -n $WORK ]] || bad_flag "--work wants a directory" ;;
    --keep) KEEP=1 ;;
    --job-timeout=*) JOB_TIMEOUT=${arg#*=}; is_uint "$JOB_TIMEOUT" || bad_flag "--job-timeout wants seconds" ;;
    *) bad_flag "unknown argument '$arg'" ;;
  esac
done

[[ $BIN == /* ]] || BIN=$ROOT/$BIN
for b in clusternodes-master clusternodes-agent clusternodes-executor clusternodes-mapreduce; do
  [[ -x $BIN/$b ]] || die "no $BIN/$b (build it, or give --bin=DIR)"
done
for tool in curl jq md5sum timeout split; do
  command -v "$tool" >/dev/null || die "needs $tool on PATH"
done
FORTUNES=/usr/share/games/fortunes
run_wordcount() { [[ $ONLY != terasort ]]; }
run_terasort() { [[ $ONLY != wordcount ]]; }
if run_wordcount && ! compgen -G "$FORTUNES/*" >/dev/null; then
  die "no texts in $FORTUNES: apt-get install -y fortunes (scripts/setup.sh lists it)"
fi

# ---------------------------------------------------------------- work dir

CREATED_WORK=0
if [[ -z $WORK ]]; then
  WORK=$(mktemp -d /tmp/cn-bench-mapreduce-XXXXXX)
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

reachable_agents() {
  curl -sf --max-time 2 "http://127.0.0.1:$MASTER_HTTP/state" |
    jq '[.agents[]? | select(.reachable == true)] | length' 2>/dev/null
}
two_agents() { [[ $(reachable_agents) -ge 2 ]] 2>/dev/null; }
master_health() { curl -sf --max-time 2 -o /dev/null "http://127.0.0.1:$MASTER_HTTP/health"; }

# ---------------------------------------------------------------- machine

NPROC=$(nproc)
MODEL=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
MEM_KB=$(awk '/^MemTotal:/ { print $2 }' /proc/meminfo)
MEM_MIB=$((MEM_KB / 1024))
KERNEL=$(uname -r)
LOAD_START=$(load)
START_DATE=$(date '+%Y-%m-%d %H:%M')
# Each agent gets one core and 40% of the RAM: the cluster has the 2 cores
# of the machine this was written for, and room beside it for the OS.
AGENT_CPUS=1
AGENTS=2
CORES=$((AGENT_CPUS * AGENTS))
AGENT_MEM=$((MEM_MIB * 4 / 10))
SORT_MEM=$((2 * TASK_MEM))
((TASK_MEM + 64 <= AGENT_MEM)) || die "--task-mem=$TASK_MEM does not fit an agent's mem:$AGENT_MEM with the executor's 64"
log "machine: nproc $NPROC, $MODEL, MemTotal $MEM_KB kB, Linux $KERNEL, load $LOAD_START"
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

# The job's flags: one task per agent at a time. A task takes 0.9 cpus and
# the executor (one per agent) 0.1: the framework's default 1 + 0.1 would
# not fit an agent of one cpu.
# A --mr-flag replaces the default of the same name.
JOB_FLAGS=()
defaults=(--master="$MASTER" --reducers=2 --task-cpus=0.9 --executor-cpus=0.1)
[[ -n $SPLIT_SIZE ]] && defaults+=(--split-size="$SPLIT_SIZE")
for d in "${defaults[@]}"; do
  replaced=0
  for f in "${MR_FLAGS[@]}"; do [[ ${f%%=*} == "${d%%=*}" ]] && replaced=1; done
  ((replaced)) || JOB_FLAGS+=("$d")
done
JOB_FLAGS+=("${MR_FLAGS[@]}")

# run_job NAME ARGS...: runs clusternodes-mapreduce, its stdout (the job's
# summary) in NAME.summary and its stderr, each line stamped with the
# seconds since the start, in NAME.log. Sets JOB_SECONDS.
run_job() {
  local name=$1
  shift
  local t0 t1 rc=0
  t0=$(now)
  timeout "$JOB_TIMEOUT" "$BIN/clusternodes-mapreduce" "$@" >"$WORK/$name.summary" \
    2> >(while IFS= read -r line; do
      printf '%7.2f %s\n' "$(calc "$EPOCHREALTIME - $t0")" "$line"
    done >"$WORK/$name.log") || rc=$?
  t1=$(now)
  sleep 0.2  # the stamping loop's last lines
  JOB_SECONDS=$(calc "$t1 - $t0" %.3f)
  if ((rc != 0)); then
    echo "--- $name: last lines of its log ---" >&2
    tail -n 5 "$WORK/$name.log" >&2
    ((rc == 124)) && die "$name: still running after ${JOB_TIMEOUT}s (a hang?); logs in $WORK"
    die "$name: clusternodes-mapreduce exited $rc; logs in $WORK"
  fi
}

summary_value() { awk -v k="$2" 'index($0, k " ") == 1 { print substr($0, length(k) + 2); exit }' "$WORK/$1.summary"; }

# The seconds at which the log's progress first showed every map done.
maps_done_at() {
  awk '$2 == "map" { split($3, a, "/"); if (a[1] == a[2]) { print $1; exit } }' "$WORK/$1.log"
}

REPORT=()
report() { REPORT+=("$*"); echo "$*"; }

# ---------------------------------------------------------------- wordcount

WC_OK=1
if run_wordcount; then
  log "wordcount: building $TEXT_MB MB of text from $FORTUNES"
  mkdir "$WORK/text"
  mapfile -t texts < <(find "$FORTUNES" -maxdepth 1 -type f ! -name '*.*' | LC_ALL=C sort)
  ((${#texts[@]} > 0)) || die "no plain text files in $FORTUNES"
  # One copy of every text, repeated; cut to size, in files of whole lines.
  cat "${texts[@]}" >"$WORK/one-copy"
  copies=$(((TEXT_MB * 1000000) / $(stat -c %s "$WORK/one-copy") + 1))
  for _ in $(seq "$copies"); do cat "$WORK/one-copy" 2>/dev/null || break; done | head -c $((TEXT_MB * 1000000)) |
    split -C $((TEXT_FILE_MB * 1000000)) -d -a 4 - "$WORK/text/text-"
  rm "$WORK/one-copy"
  TEXT_BYTES=$(cat "$WORK/text"/* | wc -c)
  TEXT_FILES=$(find "$WORK/text" -type f | wc -l)
  TEXT_MBF=$(calc "$TEXT_BYTES / 1e6" %.1f)
  log "wordcount: $TEXT_MBF MB in $TEXT_FILES files, from ${#texts[@]} texts"

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
    WC_CHECK="COUNTS DIFFER: $(diff "$WORK/wc-coreutils.norm" "$WORK/wc-mapreduce.norm" | grep -c '^[<>]') lines (coreutils $WC_WORDS, mapreduce $(wc -l <"$WORK/wc-mapreduce.norm"))"
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
