#!/usr/bin/env bash
# The .deb packages as an operator uses them: built with cpack, installed
# with apt into a fresh Debian 12 root, checked (files, conffile, unit,
# default config), and the installed agent started in that root with its
# default config against a master on this host, where it registers and runs
# a task. Then an upgrade in place while the agent runs a task (the task runs
# on through it), the master and cli packages, and a purge.
#
# Usage: package_test.sh BUILD_DIR   (as root; ctest runs it, label package)
#
# The fresh root is a debootstrap of Debian 12 (minbase, plus systemd so that
# the unit can be verified as on a real host), made once and kept as a
# tarball in $CN_PACKAGE_TEST_CACHE (default /var/cache/clusternodes/
# package-test); every run unpacks its own copy. The packages' library
# dependencies are downloaded once and kept there too. CN_DEBIAN_MIRROR
# overrides the mirror; CN_KEEP_TEST_DIRS=1 keeps the run's directory.
set -euo pipefail

build=$(cd "${1:?usage: package_test.sh BUILD_DIR}" && pwd)
cache=${CN_PACKAGE_TEST_CACHE:-/var/cache/clusternodes/package-test}
mirror=${CN_DEBIAN_MIRROR:-http://deb.debian.org/debian}
suite=bookworm
# Bump when the recipe of the pristine root changes.
tarball=$cache/$suite-minbase-systemd-1.tar

if [ "$(id -u)" -ne 0 ]; then
  echo "skip: needs root (debootstrap, chroot, dpkg into a fresh root)"
  exit 77
fi
if ! command -v debootstrap >/dev/null; then
  echo "skip: no debootstrap (scripts/setup.sh installs it)"
  exit 77
fi
for tool in cpack curl jq; do
  command -v "$tool" >/dev/null || { echo "FAIL: $tool is missing"; exit 1; }
done
# debootstrap and the root's apt go through the host apt's proxy, if any.
if [ -z "${http_proxy:-}" ] && command -v apt-config >/dev/null; then
  eval "$(apt-config shell http_proxy Acquire::http::Proxy)"
  [ -n "${http_proxy:-}" ] && export http_proxy
fi

started=$SECONDS
work=$(mktemp -d /tmp/cn-test-package.XXXXXX)
root=$work/root
master_pid=
agent_pid=

# --- helpers -----------------------------------------------------------------

fail() {  # fail WHAT [LOG]
  echo "FAIL $1"
  if [ -n "${2:-}" ] && [ -s "$2" ]; then tail -n 30 "$2" | sed 's/^/     /'; fi
  exit 1
}

# check WHAT COMMAND...: runs COMMAND, prints one line, stops at a failure
# with COMMAND's output.
check() {
  local what=$1
  shift
  if "$@" >"$work/check.out" 2>&1; then
    echo "ok   $what"
  else
    fail "$what" "$work/check.out"
  fi
}

# eventually SECONDS WHAT COMMAND...: waits until COMMAND succeeds.
eventually() {
  local limit=$1 what=$2
  shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >"$work/check.out" 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then fail "$what (waited ${limit}s)" "$work/check.out"; fi
    sleep 0.2
  done
  echo "ok   $what"
}

# A command inside the root, with a clean environment as on a fresh host.
in_root() {
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive ${http_proxy:+http_proxy=$http_proxy} "$@"
}

mounts_under() {
  awk -v dir="$1/" 'index($5, dir) == 1 { print $5 }' /proc/self/mountinfo | sort -r
}

# Unmounts whatever is mounted under DIR, deepest first.
unmount_under() {
  local mount
  for mount in $(mounts_under "$1"); do
    umount "$mount" 2>/dev/null || umount -l "$mount"
  done
}

# Removes DIR, never through a mount into the host (/proc, /sys).
remove_tree() {
  unmount_under "$1"
  if [ -n "$(mounts_under "$1")" ]; then
    echo "warning: $1 still has mounts; left in place"
    return
  fi
  rm -rf --one-file-system "$1"
}

# Kills what still runs inside ROOT (an agent, an executor, a task), by pid.
kill_root_processes() {
  local proc
  for proc in /proc/[0-9]*; do
    if [ "$(readlink "$proc/root" 2>/dev/null)" = "$1" ]; then
      kill -9 "${proc#/proc/}" 2>/dev/null || true
    fi
  done
}

cleanup() {
  local status=$?
  set +e
  [ -n "$agent_pid" ] && kill -9 "$agent_pid" 2>/dev/null
  [ -n "$master_pid" ] && kill -9 "$master_pid" 2>/dev/null
  wait 2>/dev/null
  kill_root_processes "$root"
  if [ "${CN_KEEP_TEST_DIRS:-}" = 1 ]; then
    unmount_under "$work"
    touch "$work/keep"
    echo "kept $work"
  else
    remove_tree "$work"
  fi
  exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT TERM
echo $$ >"$work/pid"

# A run killed outright (SIGKILL) could not clean up: its root may still
# have /proc and /sys mounted and processes in it. Undo that for runs whose
# process is gone.
for stale in /tmp/cn-test-package.*; do
  [ "$stale" != "$work" ] && [ -f "$stale/pid" ] || continue
  kill -0 "$(cat "$stale/pid")" 2>/dev/null && continue
  kill_root_processes "$stale/root"
  if [ -f "$stale/master.pid" ] && grep -qF "$stale/master" "/proc/$(cat "$stale/master.pid")/cmdline" 2>/dev/null; then
    kill -9 "$(cat "$stale/master.pid")"
  fi
  if [ -e "$stale/keep" ]; then unmount_under "$stale"; else remove_tree "$stale"; fi
done

# The pristine root's tarball, made on first use: in a temporary directory,
# renamed into place when complete, under a lock so that concurrent runs
# make it once.
make_pristine_root() {
  mkdir -p "$cache"
  exec {lock}>"$cache/.lock"
  flock "$lock"
  if [ ! -f "$tarball" ]; then
    local old tmp
    for old in "$cache"/.new.*; do
      [ -e "$old" ] && remove_tree "$old"
    done
    tmp=$(mktemp -d "$cache/.new.XXXXXX")
    echo "...  first run: debootstrap $suite from $mirror into $cache (later runs reuse it)"
    if ! debootstrap --variant=minbase --include=systemd "$suite" "$tmp/root" "$mirror" >"$tmp/debootstrap.log" 2>&1; then
      cp "$tmp/debootstrap.log" "$work/debootstrap.log"
      remove_tree "$tmp"
      fail "debootstrap $suite from $mirror" "$work/debootstrap.log"
    fi
    # The downloaded .debs are not part of a fresh host.
    chroot "$tmp/root" apt-get clean
    tar -C "$tmp/root" -cf "$tmp/root.tar" .
    mv "$tmp/root.tar" "$tarball"
    remove_tree "$tmp"
  fi
  flock -u "$lock"
  exec {lock}>&-
}

# apt-get install in the root, with the library packages kept from earlier
# runs; lists older than the mirror's packages are updated once.
apt_install() {
  mkdir -p "$cache/debs"
  find "$cache/debs" -name '*.deb' -exec cp -t "$root/var/cache/apt/archives/" {} +
  if ! in_root apt-get install -y --no-install-recommends "$@" >>"$work/apt.log" 2>&1; then
    in_root apt-get update >>"$work/apt.log" 2>&1 || return 1
    in_root apt-get install -y --no-install-recommends "$@" >>"$work/apt.log" 2>&1 || return 1
  fi
  local deb
  for deb in "$root"/var/cache/apt/archives/*.deb; do
    [ -e "$deb" ] || continue
    if [ ! -e "$cache/debs/${deb##*/}" ]; then
      cp "$deb" "$cache/debs/.${deb##*/}.$$" && mv "$cache/debs/.${deb##*/}.$$" "$cache/debs/${deb##*/}"
    fi
  done
}

# The keys of a config file, set or commented out (`# key = value`).
config_keys() {
  sed -nE 's/^(# )?([a-z][a-z0-9-]*) = .*/\2/p' "$1"
}

# Each key of CONFIG is a flag in HELP.
keys_are_flags() {
  local config=$1 help=$2 key missing=0
  for key in $(config_keys "$config"); do
    if ! grep -qE -- "--$key([ =,]|$)" "$help"; then
      echo "$key is not a flag of the program"
      missing=1
    fi
  done
  return "$missing"
}

has_lines() {  # has_lines FILE LINE...: FILE has each LINE, exactly
  local file=$1 line
  shift
  for line in "$@"; do
    grep -qxF -- "$line" "$file" || { echo "no '$line' in $file:"; cat "$file"; return 1; }
  done
}

# systemd-analyze verify, inside the root: the unit's paths are the
# package's. It reports some problems without failing, hence the output.
verify_unit() {
  in_root systemd-analyze verify "$1" >"$work/verify.out" 2>&1 || { cat "$work/verify.out"; return 1; }
  if grep "$1" "$work/verify.out"; then return 1; fi
}

libraries_resolve() {  # every shared library of each program is found
  local program
  for program in "$@"; do
    if in_root ldd "$program" | grep 'not found'; then return 1; fi
  done
}

# owned_by USER PATH, both the root's.
owned_by() { [ "$(in_root stat -c %U "$2")" = "$1" ] || { in_root stat -c '%U %n' "$2"; return 1; }; }
agent_key_made() {
  mode_is 600 root:root /etc/clusternodes/keys/agent.key &&
    grep -qxF "principal = \"$(hostname)\"" "$root/etc/clusternodes/keys/agent.pub"
}
same_agent_key() { [ "$(sha256sum <"$root/etc/clusternodes/keys/agent.key")" = "$agent_key_sum" ]; }
token_hashed() {  # the operator's token's hash is in the tokens file the master reads
  local hash
  hash=$(tr -d '\n' <"$root/etc/clusternodes/keys/operator.token" | sha256sum | cut -d' ' -f1)
  mode_is 640 root:clusternodes /etc/clusternodes/http-tokens.toml &&
    grep -qxF "sha256 = \"$hash\"" "$root/etc/clusternodes/http-tokens.toml"
}
# mode_is MODE OWNER:GROUP PATH, the root's: e.g. mode_is 600 root:root /etc/x
mode_is() { [ "$(in_root stat -c '%a %U:%G' "$3")" = "$1 $2" ] || { in_root stat -c '%a %U:%G %n' "$3"; return 1; }; }

installed() { [ "$(in_root dpkg-query -W -f='${Status}' "$1")" = "install ok installed" ]; }

conffile_of() {  # conffile_of PACKAGE PATH
  in_root dpkg-query -W -f='${Conffiles}\n' "$1" | tee /dev/stderr | grep -q "^ $2 "
}

enabled() { [ "$(in_root systemctl is-enabled "$1")" = enabled ]; }

checkpointed_id() {  # the agent id in the packaged work dir's checkpoint
  jq -e --arg id "$1" '.agent_id == $id' "$root/var/lib/clusternodes/agent/meta/agent.json"
}

# With every example uncommented, the agent reads and checks the whole file,
# and only then refuses the command line's --master: the file is valid.
accepts_every_example() {
  local out
  sed -E 's/^# ([a-z][a-z0-9-]* = )/\1/' "$1" >"$root/tmp/agent-all.toml"
  if out=$(timeout 20 chroot "$root" /usr/bin/clusternodes-agent --config=/tmp/agent-all.toml \
    --master=not-an-address 2>&1); then
    echo "it ran: $out"
    return 1
  fi
  echo "$out"
  [ "$(wc -l <<<"$out")" -eq 1 ] && grep -q -- "--master" <<<"$out"
}

# cmake --install to a prefix other than /usr: everything under it, the
# units naming its programs and config.
installs_under_prefix() {
  local prefix=$work/prefix file
  cmake --install "$build" --prefix "$prefix" >"$work/install.log" 2>&1 || { cat "$work/install.log"; return 1; }
  for file in bin/clusternodes-master bin/clusternodes-agent bin/clusternodes-executor \
    bin/clusternodes-launcher bin/clusternodes-docker-executor bin/clusternodes etc/clusternodes/master.toml etc/clusternodes/agent.toml \
    lib/systemd/system/clusternodes-master.service lib/systemd/system/clusternodes-agent.service; do
    [ -e "$prefix/$file" ] || { echo "no $prefix/$file"; return 1; }
  done
  has_lines "$prefix/lib/systemd/system/clusternodes-agent.service" \
    "ExecStart=$prefix/bin/clusternodes-agent --config=$prefix/etc/clusternodes/agent.toml"
  has_lines "$prefix/lib/systemd/system/clusternodes-master.service" \
    "ExecStart=$prefix/bin/clusternodes-master --config=$prefix/etc/clusternodes/master.toml"
  rm -rf "$prefix"
}

# --- packages ----------------------------------------------------------------

check "cmake --install --prefix DIR lays out DIR/bin, DIR/etc/clusternodes, DIR/lib/systemd/system" \
  installs_under_prefix

arch=$(dpkg --print-architecture)
cpack -G DEB --config "$build/CPackConfig.cmake" -B "$work/packages" >"$work/cpack.log" 2>&1 ||
  fail "cpack -G DEB" "$work/cpack.log"
deb() { find "$work/packages" -maxdepth 1 -name "$1_*_$arch.deb"; }  # deb NAME: its .deb
master_deb=$(deb clusternodes-master)
agent_deb=$(deb clusternodes-agent)
cli_deb=$(deb clusternodes-cli)
dev_deb=$(deb clusternodes-dev)
python_deb=$(find "$work/packages" -maxdepth 1 -name "python3-clusternodes_*_all.deb")
[ -f "$master_deb" ] && [ -f "$agent_deb" ] && [ -f "$cli_deb" ] && [ -f "$dev_deb" ] && [ -f "$python_deb" ] ||
  fail "cpack -G DEB makes clusternodes-master, -agent, -cli, -dev and python3-clusternodes" "$work/cpack.log"
echo "ok   cpack -G DEB made $(cd "$work/packages" && echo *.deb)"
check "the agent's dependencies come from dpkg-shlibdeps (libzmq5, libcapnp)" \
  sh -c "dpkg-deb -f '$agent_deb' Depends | tee /dev/stderr | grep libzmq5 | grep -q libcapnp"

# --- a fresh root --------------------------------------------------------------

make_pristine_root
mkdir "$root"
tar -C "$root" -xf "$tarball"
check "a fresh Debian $suite root" test -x "$root/usr/bin/apt-get" -a ! -e "$root/usr/bin/clusternodes-agent"
mkdir "$root/tmp/packages"
cp "$master_deb" "$agent_deb" "$cli_deb" "$dev_deb" "$python_deb" "$root/tmp/packages/"
in_root_deb() { echo "/tmp/packages/${1##*/}"; }

# --- the agent package ---------------------------------------------------------

apt_install "$(in_root_deb "$agent_deb")" || fail "apt-get install clusternodes-agent in the root" "$work/apt.log"
check "apt-get installs clusternodes-agent and its libraries" installed clusternodes-agent
check "the agent's launcher and executors are beside it in /usr/bin" \
  test -x "$root/usr/bin/clusternodes-agent" -a -x "$root/usr/bin/clusternodes-executor" \
  -a -x "$root/usr/bin/clusternodes-launcher" -a -x "$root/usr/bin/clusternodes-docker-executor"
check "every library of the agent, its launcher and its executors is installed" libraries_resolve \
  /usr/bin/clusternodes-agent /usr/bin/clusternodes-executor /usr/bin/clusternodes-launcher \
  /usr/bin/clusternodes-docker-executor
check "/etc/clusternodes/agent.toml is a conffile" conffile_of clusternodes-agent /etc/clusternodes/agent.toml
unit=$root/lib/systemd/system/clusternodes-agent.service
check "the unit runs the agent with the config file" \
  has_lines "$unit" "ExecStart=/usr/bin/clusternodes-agent --config=/etc/clusternodes/agent.toml"
check "the unit restarts the agent on failure, and leaves its tasks running on a stop" \
  has_lines "$unit" Restart=on-failure KillMode=process User=root
check "systemd-analyze verify clusternodes-agent.service" verify_unit clusternodes-agent.service
check "the postinst enabled the unit (systemctl is-enabled)" enabled clusternodes-agent.service
check "the postinst made /var/lib/clusternodes/agent" test -d "$root/var/lib/clusternodes/agent"

in_root /usr/bin/clusternodes-agent --help >"$work/agent-help.txt" 2>&1 ||
  fail "clusternodes-agent --help in the root" "$work/agent-help.txt"
check "clusternodes-agent --help runs in the root" grep -q "Usage: clusternodes-agent" "$work/agent-help.txt"
config=$root/etc/clusternodes/agent.toml
check "agent.toml's work dir and master are the packaged defaults" \
  has_lines "$config" 'work-dir = "/var/lib/clusternodes/agent"' 'master = "127.0.0.1:5050"'
check "every key of agent.toml, commented out or not, is an agent flag" keys_are_flags "$config" "$work/agent-help.txt"
check "the agent accepts agent.toml with every example set" accepts_every_example "$config"
check "the postinst made this host's agent key pair (0600), named after the host" agent_key_made
agent_key_sum=$(sha256sum <"$root/etc/clusternodes/keys/agent.key")
# Secure by default: without the master's public key the agent does not
# start, and says what is missing.
no_master_key() {
  local out
  if out=$(timeout 20 chroot "$root" /usr/bin/clusternodes-agent --config=/etc/clusternodes/agent.toml 2>&1); then
    echo "it ran: $out"
    return 1
  fi
  echo "$out"
  grep -q -- "--master-key" <<<"$out" && grep -q "master.pub" <<<"$out"
}
check "the packaged agent refuses to start without the master's public key, naming it" no_master_key

# --- the installed agent, started ----------------------------------------------

# The packaged agent authenticates: this master gets a key pair and admits
# the root's agent key and a framework key for launch-tasks, as an operator
# does (docs/install.md), and the root gets the master's public key.
keys=$work/keys
mkdir -p "$keys"
cn() { "$build/bin/clusternodes" "$@" >>"$work/keys.log" 2>&1 || fail "clusternodes $*" "$work/keys.log"; }
cn keys generate master --dir "$keys"
cn keys generate tester --dir "$keys"
cn keys add "$root/etc/clusternodes/keys/agent.pub" --agent --credentials="$keys/credentials.toml"
cn keys add "$keys/tester.pub" --framework --credentials="$keys/credentials.toml"
cp "$keys/master.pub" "$root/etc/clusternodes/keys/master.pub"
tester=(--key="$keys/tester.key" --master-key="$keys/master.pub")
"$build/bin/clusternodes-master" --ip=127.0.0.1 --port=0 --http-port=0 --work-dir="$work/master" \
  --key="$keys/master.key" --credentials="$keys/credentials.toml" --authenticate-agents --authenticate-frameworks \
  >"$work/master.log" 2>&1 &
master_pid=$!
echo "$master_pid" >"$work/master.pid"
eventually 30 "a master on this host" grep -q "listening on" "$work/master.log"
ports=$(sed -nE 's/.*listening on tcp:\/\/127\.0\.0\.1:([0-9]+) \(http 127\.0\.0\.1:([0-9]+)\).*/\1 \2/p' "$work/master.log")
read -r master_port master_http <<<"$ports"
[ -n "${master_http:-}" ] || fail "the master's ports in its log" "$work/master.log"

mount -t proc proc "$root/proc"
# The host's /sys, for the agent's cgroups; rslave, so that unmounting it
# here leaves the host's alone.
mount --rbind /sys "$root/sys"
mount --make-rslave "$root/sys"
# The packaged config, but this master; ports 0 so as not to collide with an
# agent already on this host.
chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
  /usr/bin/clusternodes-agent --config=/etc/clusternodes/agent.toml \
  --master="127.0.0.1:$master_port" --port=0 --http-port=0 >"$work/agent.log" 2>&1 &
agent_pid=$!

state() { curl -sf "http://127.0.0.1:$master_http/state"; }
registered() { state | jq -e '.agents | length == 1 and .[0].active' >/dev/null || { cat "$work/agent.log"; return 1; }; }
eventually 60 "the installed agent registers with the master" registered
agent_id=$(state | jq -r '.agents[0].id')
check "it keeps its checkpoint in the packaged work dir" checkpointed_id "$agent_id"
agent_http=$(state | jq -r '.agents[0].http_address')
check "its HTTP answers (/health)" sh -c "curl -sf 'http://$agent_http/health' | grep -qx ok"
"$build/bin/launch-tasks" --master="127.0.0.1:$master_port" "${tester[@]}" --tasks=1 --cpus=0.1 --mem=32 --timeout=60 \
  --command='echo ran by the packaged agent' >"$work/launch.log" 2>&1 ||
  fail "a task on the installed agent (launch-tasks)" "$work/launch.log"
check "a task runs on it, through the installed executor" \
  sh -c "cat '$root'/var/lib/clusternodes/agent/sandboxes/*/*/*/stdout | grep -qx 'ran by the packaged agent'"

# --- an upgrade with a task running ---------------------------------------------
# What an operator does: install the new package while the agent runs its
# tasks, and restart the agent (systemctl restart: SIGTERM to the agent alone,
# KillMode=process). The task keeps running through both, and the upgraded
# agent takes it back under the same agent id.

# The upgraded agent must listen where the old one did (its executors find
# it there): a port free now, below the ephemeral range, instead of 0.
agent_port=
while [ -z "$agent_port" ]; do
  candidate=$((20000 + RANDOM % 12000))
  ss -Htan "sport = :$candidate" | grep -q . || agent_port=$candidate
done
start_agent() {
  chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 \
    /usr/bin/clusternodes-agent --config=/etc/clusternodes/agent.toml \
    --master="127.0.0.1:$master_port" --port="$agent_port" --http-port=0 >>"$work/agent.log" 2>&1 &
  agent_pid=$!
}
task_output() { cat "$root"/var/lib/clusternodes/agent/sandboxes/*/*/*/stdout 2>/dev/null; }
# root_runs TEXT: a process of the root has TEXT in its command line.
root_runs() {
  local proc
  for proc in /proc/[0-9]*; do
    [ "$(readlink "$proc/root" 2>/dev/null)" = "$root" ] || continue
    tr '\0' ' ' <"$proc/cmdline" 2>/dev/null | grep -qF -- "$1" && return 0
  done
  return 1
}
same_agent_back() { state | jq -e --arg id "$agent_id" '[.agents[] | select(.id == $id and .active)] | length == 1'; }

# The agent that ran the first task, again on that port.
kill -TERM "$agent_pid"
wait "$agent_pid" || true
start_agent
eventually 60 "the agent, restarted on a fixed port, comes back under its id" same_agent_back

"$build/bin/launch-tasks" --master="127.0.0.1:$master_port" "${tester[@]}" --tasks=1 --cpus=0.1 --mem=32 --timeout=180 \
  --command='echo started-before-upgrade; sleep 12.31; echo ran-through-the-upgrade' >"$work/upgrade.log" 2>&1 &
launch_pid=$!
eventually 60 "a long task runs on the installed agent" sh -c "cat '$root'/var/lib/clusternodes/agent/sandboxes/*/*/*/stdout | grep -qx started-before-upgrade"

echo '# edited here' >>"$config"
in_root dpkg -i "$(in_root_deb "$agent_deb")" >"$work/dpkg.log" 2>&1 ||
  fail "dpkg -i over the installed agent while it runs a task" "$work/dpkg.log"
check "upgrading keeps the edited agent.toml" grep -qx '# edited here' "$config"
check "upgrading keeps the agent's key pair" same_agent_key
kill -TERM "$agent_pid"
agent_status=0
wait "$agent_pid" || agent_status=$?
agent_pid=
check "SIGTERM stops the agent (exit status 0)" test "$agent_status" -eq 0
check "its task runs on while the agent is stopped" root_runs "sleep 12.31"
start_agent
eventually 60 "the upgraded agent comes back under the same agent id" same_agent_back
launch_status=0
wait "$launch_pid" || launch_status=$?
[ "$launch_status" -eq 0 ] || fail "the task finishes after the upgrade (launch-tasks exit status $launch_status)" "$work/upgrade.log"
echo "ok   the task finishes after the upgrade: the framework saw TASK_FINISHED"
check "the task ran through the upgrade to its end" sh -c "cat '$root'/var/lib/clusternodes/agent/sandboxes/*/*/*/stdout | grep -qx ran-through-the-upgrade"
check "the work dir still holds the agent's id" checkpointed_id "$agent_id"
kill -TERM "$agent_pid"
wait "$agent_pid" || true
agent_pid=
kill_root_processes "$root"
unmount_under "$root"

# --- the master and cli packages ------------------------------------------------

apt_install "$(in_root_deb "$master_deb")" "$(in_root_deb "$cli_deb")" ||
  fail "apt-get install clusternodes-master clusternodes-cli in the root" "$work/apt.log"
check "every library of the master, the CLI and the frameworks is installed" libraries_resolve \
  /usr/bin/clusternodes-master /usr/bin/clusternodes /usr/bin/clusternodes-mapreduce \
  /usr/bin/clusternodes-spark-wordcount /usr/bin/clusternodes-spark-pagerank /usr/bin/clusternodes-spark-join
check "the master's postinst made the clusternodes user and gave it the work dir" \
  owned_by clusternodes /var/lib/clusternodes/master
check "systemd-analyze verify clusternodes-master.service" verify_unit clusternodes-master.service
check "the master's key pair is the clusternodes user's alone (0600)" \
  mode_is 600 clusternodes:clusternodes /etc/clusternodes/keys/master.key
check "the operator's HTTP token is root's alone (0600)" mode_is 600 root:root /etc/clusternodes/keys/operator.token
check "the tokens file holds its hash, readable by the master (0640 root:clusternodes)" token_hashed
check "/etc/clusternodes/acls.toml is a conffile" conffile_of clusternodes-master /etc/clusternodes/acls.toml
in_root /usr/bin/clusternodes-master --config=/etc/clusternodes/master.toml --check-config \
  >"$work/master-check.txt" 2>&1 || fail "clusternodes-master --check-config with the packaged config" "$work/master-check.txt"
echo "ok   the packaged master.toml, with its keys, credentials, tokens and ACLs, is valid (--check-config)"
in_root /usr/bin/clusternodes-master --help >"$work/master-help.txt" 2>&1 ||
  fail "clusternodes-master --help in the root" "$work/master-help.txt"
check "every key of master.toml, commented out or not, is a master flag" \
  keys_are_flags "$root/etc/clusternodes/master.toml" "$work/master-help.txt"
check "clusternodes --help runs in the root" sh -c "chroot '$root' /usr/bin/clusternodes --help | grep -q Usage"

# --- the SDK package ------------------------------------------------------------
# (Building against it is tests/integration/sdk_package_test.cpp's, from an
# install prefix: this root has no compiler.)

apt_install "$(in_root_deb "$dev_deb")" || fail "apt-get install clusternodes-dev in the root" "$work/apt.log"
sdk_lib=$(cd "$root" && find usr/lib -name 'libclusternodes_sdk.so.1' | head -1)
check "clusternodes-dev installs the SDK's headers, libraries, CMake package and pkg-config file" \
  test -f "$root/usr/include/clusternodes/scheduler.hpp" -a -f "$root/usr/include/clusternodes/version.hpp" \
  -a -n "$sdk_lib" -a -f "$root/${sdk_lib%.so.1}.a" -a -L "$root/${sdk_lib%.1}" \
  -a -f "$root/$(dirname "$sdk_lib")/cmake/Clusternodes/ClusternodesConfig.cmake" \
  -a -f "$root/$(dirname "$sdk_lib")/pkgconfig/clusternodes.pc"
check "every library of the SDK's shared library is installed" libraries_resolve "/$sdk_lib"
check "clusternodes-dev suggests the -dev packages its static archive links against" \
  sh -c "dpkg-deb -f '$dev_deb' Suggests | grep libzmq3-dev | grep -q libcapnp-dev"

# --- the Python package -----------------------------------------------------------

apt_install "$(in_root_deb "$python_deb")" || fail "apt-get install python3-clusternodes in the root" "$work/apt.log"
check "Debian's python3 imports clusternodes, with its messages, from python3-clusternodes" \
  sh -c "chroot '$root' python3 -c 'import clusternodes; from clusternodes import mesos_pb2; \
           assert clusternodes.__file__.startswith(\"/usr/lib/python3/dist-packages/\"); \
           print(mesos_pb2.TaskState.Name(mesos_pb2.TASK_FINISHED))' | grep -qx TASK_FINISHED"

# --- purge -----------------------------------------------------------------------

in_root dpkg --purge clusternodes-agent >"$work/dpkg.log" 2>&1 || fail "dpkg --purge clusternodes-agent" "$work/dpkg.log"
check "purging the agent removes its programs, config, unit and enablement" \
  sh -c "! ls -d '$root/usr/bin/clusternodes-agent' '$root/etc/clusternodes/agent.toml' '$unit' \
           '$root/etc/systemd/system/multi-user.target.wants/clusternodes-agent.service' 2>/dev/null | grep ."
check "purging the agent removes its work dir, not the master's" \
  test ! -e "$root/var/lib/clusternodes/agent" -a -d "$root/var/lib/clusternodes/master"
in_root dpkg --purge clusternodes-master >"$work/dpkg.log" 2>&1 || fail "dpkg --purge clusternodes-master" "$work/dpkg.log"
check "purging the master too removes /var/lib/clusternodes and /etc/clusternodes" \
  test ! -e "$root/var/lib/clusternodes" -a ! -e "$root/etc/clusternodes"

echo "passed in $((SECONDS - started))s"
