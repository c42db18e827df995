#!/usr/bin/env bash
# The five-minute demo: installs what is missing, builds, starts a local
# cluster (a master and two agents) and runs a real job on it. Safe to run
# again: the build is incremental and a running cluster is reused.
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
cd "$root"

"$root/scripts/setup.sh"
# Docker tasks need dockerd and the local image; the demo runs without them.
"$root/scripts/docker.sh" || echo "docker: not ready; Docker tasks will fail until it is"
"$root/scripts/build.sh" build
bin="$root/build/bin"

echo "== starting a local cluster =="
# Prints "master: HOST:PORT" and "web: URL", also when the cluster already runs.
started="$("$bin/clusternodes" start --agents=2)"
echo "$started"
master="$(echo "$started" | sed -n 's/^master: //p')"
# The cluster authenticates every link: a framework presents the key it made.
key="$(echo "$started" | sed -n 's/^key: //p')"
master_key="$(echo "$started" | sed -n 's/^master-key: //p')"

echo "== running a job: 100 tasks, each writing to its sandbox =="
"$bin/launch-tasks" --master="$master" --key="$key" --master-key="$master_key" --tasks=100 --cpus=0.1 --mem=16 \
  --command='echo "hello from $CLUSTERNODES_TASK_ID on agent $CLUSTERNODES_AGENT_ID"' --timeout=300

echo "== cluster status =="
"$bin/clusternodes" status
echo
echo "The cluster keeps running. Stop it with: $bin/clusternodes stop"
