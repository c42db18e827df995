#!/usr/bin/env bash
# bench/quick.sh: the benchmark guard. Runs every benchmark once, in a short
# mode (about two and a half minutes in all on a 2-core machine), and prints
# one line per figure: the figure, its ratio to the baseline measured in the
# same run, and the goal from docs/benchmarks.md beside it. Run it before and
# after every change to the master's, the agent's or the executor's hot
# paths, on a quiet machine, and compare the two outputs.
#
# It measures, it does not judge: a figure that misses its goal is printed
# like any other and the exit status stays 0. The short runs are smaller than
# the ones the goals were set on (each group's line says what ran), so a
# figure here is for comparing with another run of this script, and only
# roughly with a goal.
#
# Figures go to stdout; each benchmark's progress, and the last lines of its
# stderr when it fails, go to stderr. See --help, and bench/README.md for
# what each benchmark measures.

# The bench_* functions are called by name ("bench_$name"), cleanup and
# on_signal by traps: shellcheck takes them for unreachable code.
# shellcheck disable=SC2317
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
export LC_NUMERIC=C  # printf's decimal point

ALL=(launch isolation curve api docker allocator recovery mapreduce spark soak)
LAUNCH_TASKS=500
LAUNCH_ROUNDS=3

usage() {
  cat <<EOF
Usage: bench/quick.sh [--build-dir DIR] [--only NAME[,NAME...]] [--launch-tasks N]

Runs every benchmark once in a short mode and prints one line per figure
with its ratio and its goal. Benchmarks, in the order they run:

  launch     bench-launch-throughput --tasks=$LAUNCH_TASKS --rounds=$LAUNCH_ROUNDS
             (default isolation: cgroups as root) and the /bin/true spawn
             rate of the same rounds
  isolation  bench-launch-throughput --compare-isolation --tasks=200 --rounds=2
  curve      bench-launch-throughput --compare-curve --tasks=200 --rounds=2, and
             bench-message-rate --seconds=2 --rounds=3 (plain links against CURVE)
  api        bench-launch-throughput --compare-api --tasks=200 --rounds=2 (a
             framework on the Mesos v1 HTTP API against one on the SDK)
  docker     bench-docker-run --rounds=3 (needs dockerd: scripts/docker.sh)
  allocator  bench-allocator --agents=10000 --frameworks=1000 --filtered-limit=0
  recovery   bench-recovery --agents=1000 --rounds=1 --agent-tasks=100, and --store=zk (1 s session timeout)
  mapreduce  bench/mapreduce.sh --text-mb=10 --text-file-mb=2
             --tera-rows=500000 --task-mem=256
  spark      bench/spark.sh --text-mb=10 --text-file-mb=2 --pages=20000
             --iterations=3 --rounds=1
  soak       bench-soak --duration=10s --task-seconds=1..2 --kill-interval=3s --seed=1

Options:
  --build-dir DIR    the build tree whose bin/ holds the benchmarks and the
                     daemons (default: build in the checkout)
  --only NAME        run only these benchmarks (comma-separated names above)
  --launch-tasks N   tasks per launch round (default $LAUNCH_TASKS; the goal is
                     set on 1000, which takes about 30 s a round here)
  --agent-flag FLAG  an extra flag for every agent the benchmarks start
                     (repeatable), e.g. --agent-flag=--native-launcher=process
                     to compare with one executor process per task
  -h, --help         this help

Exit status: 0 when every benchmark ran, whatever its figures; 1 when one
failed to run (non-zero exit, no figures, or past its time limit; the others
still run); 2 on a bad flag.
EOF
}

bad_flag() {
  echo "quick.sh: $* (see --help)" >&2
  exit 2
}

# ---------------------------------------------------------------- flags

BUILD=$ROOT/build
ONLY=
AGENT_FLAGS=()
while (($#)); do
  case $1 in
    -h | --help) usage; exit 0 ;;
    --build-dir=*) BUILD=${1#*=} ;;
    --build-dir) (($# > 1)) || bad_flag "--build-dir wants a directory"; BUILD=$2; shift ;;
    --only=*) ONLY=${1#*=} ;;
    --only) (($# > 1)) || bad_flag "--only wants a name"; ONLY=$2; shift ;;
    --launch-tasks=*) LAUNCH_TASKS=${1#*=} ;;
    --launch-tasks) (($# > 1)) || bad_flag "--launch-tasks wants a number"; LAUNCH_TASKS=$2; shift ;;
    --agent-flag=*) AGENT_FLAGS+=("${1#*=}") ;;
    --agent-flag) (($# > 1)) || bad_flag "--agent-flag wants a flag"; AGENT_FLAGS+=("$2"); shift ;;
    *) bad_flag "unknown argument '$1'" ;;
  esac
  shift
done

[[ $LAUNCH_TASKS =~ ^[1-9][0-9]*$ ]] || bad_flag "--launch-tasks wants a positive whole number"
# Every agent the benchmarks start gets these: bench-launch-throughput as
# --agent-flag, the test harness's clusters and bench/common.sh's from here.
if ((${#AGENT_FLAGS[@]})); then
  export CN_TEST_AGENT_FLAGS="${CN_TEST_AGENT_FLAGS:+$CN_TEST_AGENT_FLAGS }${AGENT_FLAGS[*]}"
fi
[[ $BUILD == /* ]] || BUILD=$PWD/$BUILD
BIN=$BUILD/bin
[[ -d $BIN ]] || bad_flag "no $BIN (build first, or give --build-dir)"

SELECTED=()
if [[ -n $ONLY ]]; then
  IFS=, read -ra wanted <<<"$ONLY"
  for name in "${wanted[@]}"; do
    [[ " ${ALL[*]} " == *" $name "* ]] || bad_flag "--only: no benchmark '$name' (one of: ${ALL[*]})"
  done
  # In the usual order, whatever the order given.
  for name in "${ALL[@]}"; do
    [[ ",$ONLY," == *",$name,"* ]] && SELECTED+=("$name")
  done
else
  SELECTED=("${ALL[@]}")
fi

command -v jq >/dev/null || { echo "quick.sh: needs jq on PATH" >&2; exit 1; }

# ---------------------------------------------------------------- output

# pad WIDTH TEXT / rpad WIDTH TEXT: TEXT padded with spaces on the right /
# left to WIDTH characters. printf's own widths count bytes, and the ratios
# hold a '÷'.
pad() {
  local n=$(($1 - ${#2}))
  printf '%s%*s' "$2" $((n > 0 ? n : 0)) ''
}
rpad() {
  local n=$(($1 - ${#2}))
  printf '%*s%s' $((n > 0 ? n : 0)) '' "$2"
}

# figure NAME VALUE [RATIO] [GOAL]: one line of the table.
figure() {
  local line
  line="$(pad 30 "$1") $(rpad 9 "$2")  $(pad 30 "${3:-}") ${4:+($4)}"
  echo "${line%"${line##*[! ]}"}"
}

# group NAME WHAT: the line above a benchmark's figures: what ran, how long.
group() {
  echo "# $1: $2"
}

log() { echo "[$(date +%T)] $*" >&2; }

# fmt FORMAT NUMBER: NUMBER printed with the printf FORMAT.
fmt() {
  # shellcheck disable=SC2059  # the format is the caller's
  printf "$1" "$2"
}

is_number() { [[ $1 =~ ^-?[0-9]+(\.[0-9]+)?([eE][-+]?[0-9]+)?$ ]]; }

# jvars FILE NAME=FILTER...: sets each variable NAME (declared local by the
# caller) to the number jq's FILTER gives on FILE. Fails, saying which, when a
# filter gives anything but a number.
jvars() {
  local file=$1 spec value
  shift
  for spec in "$@"; do
    value=$(jq -r "${spec#*=}" "$file" 2>/dev/null) || value=
    if ! is_number "$value"; then
      echo "no number for ${spec#*=} in the output" >"$FAIL_REASON"
      return 1
    fi
    printf -v "${spec%%=*}" '%s' "$value"
  done
}

# numbers NAME...: fails unless every named variable holds a number.
numbers() {
  local name
  for name in "$@"; do
    if ! is_number "${!name:-}"; then
      echo "no number for $name in the output" >"$FAIL_REASON"
      return 1
    fi
  done
}

# ---------------------------------------------------------------- running

TMP=$(mktemp -d /tmp/cn-quick-XXXXXX)
FAIL_REASON=$TMP/fail-reason
CHILD=
cleanup() { rm -rf "$TMP"; }
on_signal() {  # on_signal STATUS
  [[ -n $CHILD ]] && kill -TERM "$CHILD" 2>/dev/null
  wait 2>/dev/null
  exit "$1"
}
trap cleanup EXIT
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# run NAME SECONDS PROGRAM ARGS...: runs PROGRAM for at most SECONDS, its
# stdout in $OUT and its stderr in $ERR (both under $TMP). Sets RC; fails
# when PROGRAM exited non-zero, saying why in $FAIL_REASON.
# timeout runs PROGRAM in a process group of its own, which a Ctrl-C does
# not reach: on_signal passes the signal on.
run() {
  local name=$1 seconds=$2
  shift 2
  OUT=$TMP/$name.out ERR=$TMP/$name.err RC=0
  if [[ ! -x $1 ]]; then
    echo "no $1 (a build under way? build it, or give --build-dir)" >"$FAIL_REASON"
    RC=127
    return 1
  fi
  timeout --kill-after=10 "$seconds" "$@" >"$OUT" 2>"$ERR" &
  CHILD=$!
  wait "$CHILD" || RC=$?
  CHILD=
  case $RC in
    0) return 0 ;;
    124 | 137) echo "still running after ${seconds}s, stopped" >"$FAIL_REASON" ;;
    *) echo "exited $RC: $(grep -v '^\s*$' "$ERR" | tail -n 1)" >"$FAIL_REASON" ;;
  esac
  return 1
}

# ---------------------------------------------------------------- benchmarks
#
# Each bench_NAME runs its benchmark and prints its group line and figures;
# it returns non-zero, with a reason in $FAIL_REASON, when the benchmark did
# not run or gave no figures. Bash ignores set -e inside a function called
# with ||, so every step that can fail is checked by hand.

bench_launch() {
  local tps ratio true_ps first retries cpu master agents execs
  run launch 300 "$BIN/bench-launch-throughput" --tasks="$LAUNCH_TASKS" --rounds="$LAUNCH_ROUNDS" \
    "${AGENT_FLAGS[@]/#/--agent-flag=}" --json || return 1
  jvars "$OUT" tps=.median.clusternodes_tasks_per_s ratio=.median.ratio_vs_spawn_true \
    true_ps=.median.spawn_true_per_s \
    first='[.rounds[].first_end_seconds] | max' retries='[.rounds[].status_update_retries] | add' \
    cpu='.median.cpu_ms_per_task | add' master=.median.cpu_ms_per_task.master \
    agents=.median.cpu_ms_per_task.agents execs=.median.cpu_ms_per_task.executors_and_tasks || return 1
  local firsts retries_each
  firsts=$(jq -r '.rounds[].first_end_seconds' "$OUT" | xargs printf '%.2f ')
  retries_each=$(jq -r '.rounds[].status_update_retries' "$OUT" | xargs)
  group launch "bench-launch-throughput --tasks=$LAUNCH_TASKS --rounds=$LAUNCH_ROUNDS (cgroups${AGENT_FLAGS[*]:+; ${AGENT_FLAGS[*]}}); medians; goals set on 3 x 1000 tasks"
  figure launch.tasks_per_s "$(fmt %.1f "$tps")" "÷true $(fmt %.3f "$ratio")" "goal ÷true >= 0.333"
  figure launch.true_spawn_per_s "$(fmt %.1f "$true_ps")" "same rounds"
  figure launch.first_task_ended_s "$(fmt %.3f "$first")" "worst; rounds ${firsts% }" "goal <= 0.2"
  figure launch.status_update_retries "$retries" "all rounds; $retries_each" "goal 0"
  figure launch.cpu_ms_per_task "$(fmt %.2f "$cpu")" \
    "exec $(fmt %.1f "$execs") agents $(fmt %.1f "$agents") m $(fmt %.1f "$master")"
}

bench_isolation() {
  local cg none ratio
  run isolation 180 "$BIN/bench-launch-throughput" --compare-isolation --tasks=200 --rounds=2 \
    "${AGENT_FLAGS[@]/#/--agent-flag=}" --json || return 1
  jvars "$OUT" cg=.median.cgroups_tasks_per_second none=.median.none_tasks_per_second \
    ratio=.median.ratio_cgroups_vs_none || return 1
  group isolation "bench-launch-throughput --compare-isolation --tasks=200 --rounds=2; goal set on 9 x 1000"
  figure isolation.cgroups_tasks_per_s "$(fmt %.1f "$cg")" "÷none $(fmt %.3f "$ratio")" "goal ÷none >= 0.8"
  figure isolation.none_tasks_per_s "$(fmt %.1f "$none")" "same rounds"
}

bench_curve() {
  local plain curve ratio pm cm
  run curve 180 "$BIN/bench-launch-throughput" --compare-curve --tasks=200 --rounds=2 \
    "${AGENT_FLAGS[@]/#/--agent-flag=}" --json || return 1
  jvars "$OUT" plain=.median.plain_tasks_per_second curve=.median.curve_tasks_per_second \
    ratio=.median.ratio_curve_vs_plain pm=.median.plain_master_cpu_ms_per_task \
    cm=.median.curve_master_cpu_ms_per_task || return 1
  group curve "bench-launch-throughput --compare-curve --tasks=200 --rounds=2; bench-message-rate --seconds=2 --rounds=3"
  figure curve.launch_tasks_per_s "$(fmt %.1f "$curve")" "÷plain $(fmt %.3f "$ratio")" \
    "master ms/task $(fmt %.2f "$cm") (plain $(fmt %.2f "$pm"))"
  figure curve.plain_launch_tasks_per_s "$(fmt %.1f "$plain")" "same rounds"
  local mplain mcurve mratio
  run curve-messages 60 "$BIN/bench-message-rate" --seconds=2 --rounds=3 --json || return 1
  jvars "$OUT" mplain=.median.plain_round_trips_per_second mcurve=.median.curve_round_trips_per_second \
    mratio=.median.ratio_curve_vs_plain || return 1
  figure curve.round_trips_per_s "$(fmt %.0f "$mcurve")" "÷plain $(fmt %.3f "$mratio")" "one ROUTER, 20 peers"
  figure curve.plain_round_trips_per_s "$(fmt %.0f "$mplain")" "same rounds"
}

bench_api() {
  local sdk http ratio sm hm so ho
  run api 180 "$BIN/bench-launch-throughput" --compare-api --tasks=200 --rounds=2 \
    "${AGENT_FLAGS[@]/#/--agent-flag=}" --json || return 1
  jvars "$OUT" sdk=.median.sdk_tasks_per_second http=.median.http_tasks_per_second \
    ratio=.median.ratio_http_vs_sdk sm=.median.sdk_master_cpu_ms_per_task \
    hm=.median.http_master_cpu_ms_per_task so=.median.sdk_offers_per_second \
    ho=.median.http_offers_per_second || return 1
  group api "bench-launch-throughput --compare-api --tasks=200 --rounds=2"
  figure api.http_launch_tasks_per_s "$(fmt %.1f "$http")" "÷sdk $(fmt %.3f "$ratio")" "goal ÷sdk >= 0.5"
  figure api.sdk_launch_tasks_per_s "$(fmt %.1f "$sdk")" "same rounds"
  figure api.http_offers_per_s "$(fmt %.1f "$ho")" "sdk $(fmt %.1f "$so")"
  figure api.http_master_cpu_ms_per_task "$(fmt %.2f "$hm")" "sdk $(fmt %.2f "$sm")"
}

bench_docker() {
  local cn dk ratio
  run docker 120 "$BIN/bench-docker-run" --rounds=3 --json || return 1
  jvars "$OUT" cn=.median.clusternodes_ms dk=.median.docker_ms ratio=.median.ratio_clusternodes_vs_docker || return 1
  group docker "bench-docker-run --rounds=3; medians; goal set on 10 rounds"
  figure docker.clusternodes_run_ms "$(fmt %.1f "$cn")" "÷docker $(fmt %.3f "$ratio")" "goal ÷docker <= 1.2"
  figure docker.docker_run_ms "$(fmt %.1f "$dk")" "same rounds"
}

bench_allocator() {
  local add round1 declined declined_max freed freed_p99 refused refused_p99
  # --filtered-limit=0: no declines to the end (a thousand rounds, a minute here).
  run allocator 60 "$BIN/bench-allocator" --agents=10000 --frameworks=1000 --filtered-limit=0 || return 1
  read -r add round1 declined declined_max < <(awk '$1 == 10000 && $2 == 1000 { print $3, $4, $6, $7; exit }' "$OUT") || true
  read -r freed freed_p99 < <(awk '/^half an agent freed/ { print $(NF - 2), $(NF - 1); exit }' "$OUT") || true
  read -r refused refused_p99 < <(awk '/^that offer declined/ { print $(NF - 2), $(NF - 1); exit }' "$OUT") || true
  numbers add round1 declined declined_max freed freed_p99 refused refused_p99 || return 1
  group allocator "bench-allocator --agents=10000 --frameworks=1000 --filtered-limit=0 (10 declined rounds, 2000 events)"
  figure allocator.declined_round_ms "$declined" "median; max $declined_max" "goal <= 50"
  figure allocator.round1_ms "$round1" "all free; add all $add"
  figure allocator.freed_event_us "$freed" "median; p99 $freed_p99" "goal <= 100, set at 50k agents"
  figure allocator.declined_event_us "$refused" "median; p99 $refused_p99"
}

bench_recovery() {
  local rereg ratio state cold done_s agent_rr
  run recovery 180 "$BIN/bench-recovery" --agents=1000 --rounds=1 --agent-tasks=100 --json || return 1
  jvars "$OUT" rereg=.master_failover.median.health_to_all_reregistered_seconds \
    ratio=.master_failover.median.ratio_vs_mesos_scaled state=.master_failover.median.spawn_to_state_seconds \
    cold=.master_failover.median.cold_state_seconds \
    done_s=.agent_recovery.median.since_restart_seconds.done \
    agent_rr=.agent_recovery.median.since_restart_seconds.reregistered_with_master || return 1
  group recovery "bench-recovery --agents=1000 --rounds=1 --agent-tasks=100; no stated goal, Mesos 1.5 scaled = 1"
  figure recovery.master_rereg_s "$(fmt %.3f "$rereg")" "÷mesos $(fmt %.2f "$ratio")" "lower is better"
  figure recovery.master_total_s "$(fmt %.3f "$state")" "spawn to /state all back"
  figure recovery.cold_register_s "$(fmt %.3f "$cold")" "1000 agents, first time"
  figure recovery.agent_done_s "$(fmt %.3f "$done_s")" "100 tasks; re-reg $(fmt %.3f "$agent_rr")"
  local mttr up
  run recovery 120 "$BIN/bench-recovery" --store=zk --zk-session-timeout-ms=1000 --agents=1000 --rounds=1 \
    --part=master --json || return 1
  jvars "$OUT" mttr=.master_failover.median.spawn_to_state_seconds \
    up=.master_failover.median.spawn_to_health_seconds cold=.master_failover.median.cold_state_seconds || return 1
  group recovery "bench-recovery --store=zk --zk-session-timeout-ms=1000 --agents=1000 --rounds=1; Mesos paper MTTR 4-8 s"
  figure recovery.zk_failover_s "$(fmt %.3f "$mttr")" "kill to all back; elected after $(fmt %.3f "$up")" "goal < 2"
  figure recovery.zk_cold_register_s "$(fmt %.3f "$cold")" "1000 agents, first time, registry in ZooKeeper"
  # The goal's own size: 10,000 agents starting at once, each connecting
  # and registering, first connection to last reply, once with each store
  # (the agents in two processes).
  local store replies resent cpu
  for store in file zk; do
    run recovery 120 "$BIN/bench-recovery" --part=master --cold-only --agents=10000 --rounds=1 --store="$store" \
      --json || return 1
    jvars "$OUT" replies=.master_failover.median.cold_replies_seconds \
      resent='.master_failover.rounds[0].cold_registration.agents.retries' \
      cpu=.master_failover.median.cold_master_cpu_seconds || return 1
    [[ $store == file ]] && group recovery "bench-recovery --part=master --cold-only --agents=10000 --rounds=1 --store=file|zk"
    figure "recovery.cold_10k_${store}_s" "$(fmt %.3f "$replies")" "master cpu $(fmt %.2f "$cpu") s; $resent re-sent" "goal < 2"
  done
}

bench_mapreduce() {
  local wc_mr wc_ratio ts_mr ts_ratio
  run mapreduce 150 "$ROOT/bench/mapreduce.sh" --bin="$BIN" --text-mb=10 --text-file-mb=2 \
    --tera-rows=500000 --task-mem=256 || return 1
  # The lines of its report (printed twice: as it goes and in the summary).
  wc_mr=$(awk '$1 == "clusternodes-mapreduce" && $2 == "wordcount" { print $3; exit }' "$OUT")
  wc_ratio=$(awk -F': ' '/ratio coreutils time \/ mapreduce time/ { split($2, a, " "); print a[1]; exit }' "$OUT")
  ts_mr=$(awk '$1 == "clusternodes-mapreduce" && $2 == "terasort" { print $3; exit }' "$OUT")
  ts_ratio=$(awk -F': ' '/ratio mapreduce speed \/ sort speed/ { split($2, a, " "); print a[1]; exit }' "$OUT")
  numbers wc_mr wc_ratio ts_mr ts_ratio || return 1
  group mapreduce "bench/mapreduce.sh --text-mb=10 --tera-rows=500000 (50 MB) --task-mem=256; goals set on 100 MB and 1 GB"
  figure mapreduce.wordcount_s "$wc_mr" "coreutils÷this $wc_ratio" "goal > 1"
  figure mapreduce.terasort_s "$ts_mr" "speed÷GNU sort $ts_ratio" "goal >= 0.5"
}

bench_spark() {
  local wc wc_ratio pr pr_ratio
  run spark 150 "$ROOT/bench/spark.sh" --bin="$BIN" --text-mb=10 --text-file-mb=2 \
    --pages=20000 --iterations=3 --rounds=1 || return 1
  wc=$(awk '$1 == "clusternodes-spark-wordcount" { print $2; exit }' "$OUT")
  wc_ratio=$(awk '/^wordcount ratio/ { print $NF; exit }' "$OUT")
  pr=$(awk '$1 == "clusternodes-spark-pagerank" && $3 == "s" { print $2; exit }' "$OUT")
  pr_ratio=$(awk '/^pagerank ratio/ { print $NF; exit }' "$OUT")
  numbers wc wc_ratio pr pr_ratio || return 1
  group spark "bench/spark.sh --text-mb=10 --pages=20000 --iterations=3 --rounds=1; no stated goal"
  figure spark.wordcount_s "$wc" "mapreduce÷this $wc_ratio"
  figure spark.pagerank_cached_s "$pr" "no-cache÷this $pr_ratio"
}

bench_soak() {
  local lost dup unknown launched finished dropped events
  run soak 120 "$BIN/bench-soak" --duration=10s --task-seconds=1..2 --kill-interval=3s --seed=1 --json
  # Exit 1 is a finding (a task lost or duplicated), with the report; only
  # 2 (a bad flag) and 3 (no cluster) are a failure to run.
  if ((RC != 0 && RC != 1)); then return 1; fi
  jvars "$OUT" lost=.tasks.lost dup=.tasks.duplicated unknown=.tasks.unknown launched=.tasks.launched \
    finished=.tasks.finished dropped=.tasks.dropped_in_flight events='.chaos.events | length' || return 1
  group soak "bench-soak --duration=10s --task-seconds=1..2 --kill-interval=3s --seed=1 (3 agents, 5 tasks/s)"
  figure soak.lost_tasks "$lost" "of $launched; $finished ok, $dropped dropped" "goal 0"
  figure soak.duplicated_tasks "$dup" "unknown $unknown; $events chaos events" "goal 0"
}

# ---------------------------------------------------------------- main

commit=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
[[ -n $(git -C "$ROOT" status --porcelain 2>/dev/null) ]] && commit+=-dirty
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:STRING=//p' "$BUILD/CMakeCache.txt" 2>/dev/null || true)
model=$(awk -F': ' '/^model name/ { print $2; exit }' /proc/cpuinfo)
mem_gib=$(awk '/^MemTotal:/ { printf "%.1f", $2 / 1048576 }' /proc/meminfo)
load() { cut -d' ' -f1-3 /proc/loadavg; }

START=$SECONDS
echo "bench/quick.sh at $commit: $(nproc) cores, ${model:-unknown CPU}, $mem_gib GiB, Linux $(uname -r); build $BUILD (${build_type:-?}); $(date '+%Y-%m-%d %H:%M'), load $(load)${AGENT_FLAGS[*]:+; agents with ${AGENT_FLAGS[*]}}"
echo "$(pad 30 figure) $(rpad 9 value)  $(pad 30 ratio/detail) goal"

FAILED=()
TIMES=()
for name in "${SELECTED[@]}"; do
  log "$name: running"
  t0=$SECONDS
  : >"$FAIL_REASON"
  if ! "bench_$name"; then
    FAILED+=("$name")
    group "$name" "FAILED: $(cat "$FAIL_REASON")"
    if [[ -s $TMP/$name.err ]]; then
      echo "--- $name: last lines of its stderr ---" >&2
      tail -n 8 "$TMP/$name.err" >&2
    fi
  fi
  TIMES+=("$name $((SECONDS - t0))s")
  log "$name: done in $((SECONDS - t0))s"
done

times=$(printf '%s, ' "${TIMES[@]}")
echo "# took $((SECONDS - START))s (${times%, }); load $(load) at the end"
if ((${#FAILED[@]})); then
  echo "# FAILED to run: ${FAILED[*]}"
  exit 1
fi
exit 0
