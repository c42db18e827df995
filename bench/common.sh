# shellcheck shell=bash
# shellcheck disable=SC2034  # the variables set here are read by the scripts that source it
# What bench/mapreduce.sh and bench/spark.sh share: their common flags, the
# work directory and its clean-up, a local cluster (one master, two agents
# of one core each, on free loopback ports) started and stopped, the
# wordcount input, a timed job with a stamped log, and small helpers.
# Sourced, not run: plain bash, functions and variables only, nothing runs
# when it is sourced.
#
# The sourcing script sets, before it sources this file:
#   set -euo pipefail
#   PROG      its name in messages ("mapreduce.sh: ...")
#   ROOT      the checkout (absolute)
# and defines usage (its --help text, printed by common_flag).
#
# Variables it sets when sourced (the defaults of the common flags):
#   BIN=$ROOT/build/bin TEXT_MB=100 TEXT_FILE_MB=10 MR_FLAGS=() ONLY=
#   WORK= KEEP=0 JOB_TIMEOUT=1800 FORTUNES=/usr/share/games/fortunes
#   PIDS=() (the daemons, killed by cleanup) REPORT=() (lines for report)
#
# Functions:
#   die MSG / bad_flag MSG   "$PROG: MSG" on stderr, exit 1 / exit 2
#   is_uint S                S is a positive whole number
#   common_flag ARG          takes -h/--help, --bin, --text-mb, --text-file-mb,
#                            --mr-flag, --work, --keep, --job-timeout; returns 1
#                            for any other ARG (the script's own flags)
#   require_bins NAME...     makes BIN absolute (from ROOT); dies unless each
#                            $BIN/NAME is executable
#   require_tools NAME...    dies unless each NAME is on PATH
#   require_fortunes         dies unless $FORTUNES has texts
#   enter_work_dir NAME      WORK: --work, or a new /tmp/cn-bench-NAME-XXXXXX;
#                            sets the EXIT/ERR/INT/TERM traps (cleanup), cd WORK
#   cleanup                  the EXIT trap: kills PIDS and any process whose
#                            cwd is in WORK, removes WORK (unless --keep)
#   now / calc EXPR [FMT] / log MSG / load / report LINE
#   free_ports N             N distinct free TCP ports on 127.0.0.1
#   wait_for SECONDS WHAT COMMAND...
#   master_state / master_health / reachable_agents / two_agents
#   machine_facts            sets NPROC MODEL MEM_KB MEM_MIB KERNEL LOAD_START
#                            START_DATE AGENT_CPUS AGENTS AGENT_MEM
#   start_cluster            starts the master and two agents (needs
#                            machine_facts); sets MASTER MASTER_PORT MASTER_HTTP
#   with_defaults ARRAY DEFAULTS...   sets OUT
#   make_text_input          builds $WORK/text; sets TEXT_BYTES TEXT_FILES TEXT_MBF
#   run_stamped NAME OUT PROGRAM ARGS...   sets JOB_SECONDS
#
# A command that fails inside one of these functions stops the script (set
# -e) with its status, as at the top level, but without the ERR trap's
# "line N: a command failed" message: bash runs that trap in functions only
# under set -E.

die() {
  echo "$PROG: $*" >&2
  exit 1
}
bad_flag() {
  echo "$PROG: $* (see --help)" >&2
  exit 2
}

is_uint() { [[ $1 =~ ^[0-9]+$ ]] && ((10#$1 > 0)); }

# ---------------------------------------------------------------- flags

BIN=$ROOT/build/bin
TEXT_MB=100
TEXT_FILE_MB=10
MR_FLAGS=()
ONLY=
WORK=
KEEP=0
JOB_TIMEOUT=1800

# common_flag ARG: the flags both scripts take. Returns 1 for any other ARG,
# which the script parses itself:
#   for arg in "$@"; do common_flag "$arg" && continue; case $arg in ...
common_flag() {
  local arg=$1
  case $arg in
    -h | --help) usage; exit 0 ;;
    --bin=*) BIN=${arg#*=} ;;
    --text-mb=*) TEXT_MB=${arg#*=}; is_uint "$TEXT_MB" || bad_flag "--text-mb wants a positive whole number" ;;
    --text-file-mb=*) TEXT_FILE_MB=${arg#*=}; is_uint "$TEXT_FILE_MB" || bad_flag "--text-file-mb wants a positive whole number" ;;
    --mr-flag=*) MR_FLAGS+=("${arg#*=}") ;;
    --work=*) WORK=${arg#*=}; [[ -n $WORK ]] || bad_flag "--work wants a directory" ;;
    --keep) KEEP=1 ;;
    --job-timeout=*) JOB_TIMEOUT=${arg#*=}; is_uint "$JOB_TIMEOUT" || bad_flag "--job-timeout wants seconds" ;;
    *) return 1 ;;
  esac
}

require_bins() {
  [[ $BIN == /* ]] || BIN=$ROOT/$BIN
  local b
  for b in "$@"; do
    [[ -x $BIN/$b ]] || die "no $BIN/$b (build it, or give --bin=DIR)"
  done
}
require_tools() {
  local tool
  for tool in "$@"; do
    command -v "$tool" >/dev/null || die "needs $tool on PATH"
  done
}
FORTUNES=/usr/share/games/fortunes
require_fortunes() {
  compgen -G "$FORTUNES/*" >/dev/null ||
    die "no texts in $FORTUNES: apt-get install -y fortunes (scripts/setup.sh lists it)"
}

# ---------------------------------------------------------------- work dir

# enter_work_dir NAME: WORK is --work (made absolute; empty or new) or a new
# mktemp directory /tmp/cn-bench-NAME-XXXXXX. Sets the traps and cds there.
enter_work_dir() {
  CREATED_WORK=0
  if [[ -z $WORK ]]; then
    WORK=$(mktemp -d "/tmp/cn-bench-$1-XXXXXX")
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
  trap cleanup EXIT
  trap 'echo "$PROG: line $LINENO: a command failed (status $?)" >&2' ERR
  trap 'exit 130' INT
  trap 'exit 143' TERM
  cd "$WORK" || exit
}

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

# ---------------------------------------------------------------- helpers

now() { echo "$EPOCHREALTIME"; }
# calc EXPR: awk arithmetic, printed with the format $2 (default %.2f)
calc() { awk "BEGIN { printf \"${2:-%.2f}\", $1 }"; }
log() { echo "[$(date +%T)] $*" >&2; }
load() { cut -d' ' -f1-3 /proc/loadavg; }

# report LINE: prints LINE and keeps it for the summary block.
REPORT=()
report() { REPORT+=("$*"); echo "$*"; }

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

# ---------------------------------------------------------------- machine

machine_facts() {
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
  AGENT_MEM=$((MEM_MIB * 4 / 10))
}

# ---------------------------------------------------------------- cluster

start_cluster() {
  local A0_PORT A0_HTTP A1_PORT A1_HTTP agent_ports i port http
  read -r MASTER_PORT MASTER_HTTP A0_PORT A0_HTTP A1_PORT A1_HTTP <<<"$(free_ports 6)"
  MASTER=127.0.0.1:$MASTER_PORT

  # setsid: each daemon leads a process group of its own, killed as one.
  setsid "$BIN/clusternodes-master" --ip=127.0.0.1 --port="$MASTER_PORT" --http-port="$MASTER_HTTP" \
    --work-dir="$WORK/master" </dev/null >"$WORK/master.log" 2>&1 &
  PIDS+=($!)
  wait_for 20 "the master did not answer /health" master_health
  agent_ports=("$A0_PORT $A0_HTTP" "$A1_PORT $A1_HTTP")
  # Extra agent flags, as the test harness takes them (bench/quick.sh --agent-flag).
  local agent_flags=()
  read -ra agent_flags <<<"${CN_TEST_AGENT_FLAGS:-}"
  for i in 0 1; do
    read -r port http <<<"${agent_ports[$i]}"
    setsid "$BIN/clusternodes-agent" --master="$MASTER" --ip=127.0.0.1 --port="$port" --http-port="$http" \
      --work-dir="$WORK/agent-$i" --launcher-dir="$BIN" --resources="cpus:$AGENT_CPUS;mem:$AGENT_MEM" \
      "${agent_flags[@]}" </dev/null >"$WORK/agent-$i.log" 2>&1 &
    PIDS+=($!)
  done
  wait_for 30 "two agents did not register with the master" two_agents
  log "cluster up: master $MASTER (http $MASTER_HTTP), 2 agents of cpus:$AGENT_CPUS;mem:$AGENT_MEM"
}

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

# ---------------------------------------------------------------- wordcount input

# make_text_input: $TEXT_MB MB of the fortunes texts in $WORK/text, in files
# of $TEXT_FILE_MB MB. Sets TEXT_BYTES, TEXT_FILES and TEXT_MBF (MB, %.1f).
make_text_input() {
  log "wordcount: building $TEXT_MB MB of text from $FORTUNES"
  mkdir "$WORK/text"
  local texts copies
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
}

# ---------------------------------------------------------------- jobs

# run_stamped NAME OUT PROGRAM ARGS...: runs $BIN/PROGRAM ARGS, at most
# --job-timeout seconds, its stdout in OUT and its stderr, each line stamped
# with the seconds since the start, in $WORK/NAME.log. Sets JOB_SECONDS. On a
# failure, prints the log's last lines and dies.
run_stamped() {
  local name=$1 out_file=$2 program=$3
  shift 3
  local t0 t1 rc=0
  t0=$(now)
  # Stamped in bash arithmetic (microseconds): no process per line, since
  # the Spark programs print a line per task and the machine has 2 cores.
  timeout "$JOB_TIMEOUT" "$BIN/$program" "$@" >"$out_file" \
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
