#!/usr/bin/env bash
# Installs what Clusternodes needs to build and test on Debian 12, from Debian's
# own packages. Idempotent: packages already present are skipped.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git curl procps psmisc
  ccache  # a second build, or a build in another checkout, reuses the compiled objects
  libzmq3-dev cppzmq-dev libcapnp-dev capnproto libuv1-dev libfmt-dev
  doctest-dev libcli11-dev libspdlog-dev nlohmann-json3-dev
  libcurl4-openssl-dev libhttp-parser-dev libtomlplusplus-dev
  libprotobuf-dev protobuf-compiler  # application/x-protobuf on the Mesos v1 HTTP APIs
  libssl-dev  # SHA-256 fingerprints of CURVE keys; TLS on the HTTP ports
  openssl  # the TLS tests make their certificates as docs/security.md shows
  tcpdump  # the security tests capture the links between hosts
  libzookeeper-mt-dev libbenchmark-dev
  zookeeper default-jre-headless  # ZooKeeper servers for HA: the tests' and `clusternodes start --masters=3`
  zlib1g-dev  # CRC-32 of the agent's checkpoint records
  docker.io busybox-static
  python3  # the tests' Mesos v1 scheduler (tests/integration/programs/v1_scheduler.py), from Debian
  python3-pytest python3-kazoo python3-venv  # the Python SDK (python/): its tests, zk:// masters, pip install in a venv
  fortunes jq  # English text for the MapReduce tests and benchmarks; bench/mapreduce.sh reads JSON
  prometheus  # promtool checks the /metrics endpoints in the tests
  chromium fonts-dejavu-core  # the web UI's tests load its pages in headless Chromium
  debootstrap  # the package test installs clusternodes-agent into a fresh Debian root
  clang-14 libclang-rt-14-dev  # libFuzzer and the sanitizers of the fuzz targets (scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

if [ "$(id -u)" -ne 0 ]; then
  echo "setup: missing packages (${missing[*]}); run as root or install them" >&2
  exit 1
fi

echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "setup: done"
