#!/usr/bin/env bash
# Makes Docker ready for Clusternodes' Docker tasks and their tests: starts
# dockerd when nothing answers on its socket, and builds the test image
# clusternodes/busybox (FROM scratch with Debian's busybox-static) when it is
# missing. Nothing is pulled from a registry. Idempotent. Needs root and the
# packages scripts/setup.sh installs.
#
#   scripts/docker.sh            # dockerd running, image built
#   DOCKER_SOCKET=/path scripts/docker.sh
set -euo pipefail

socket="${DOCKER_SOCKET:-/var/run/docker.sock}"
image="clusternodes/busybox"
log="/var/log/clusternodes-dockerd.log"

answers() { curl -sf --max-time 2 --unix-socket "$socket" http://localhost/_ping >/dev/null 2>&1; }

if ! answers; then
  if ! command -v dockerd >/dev/null; then
    echo "docker: dockerd is not installed (scripts/setup.sh installs docker.io)" >&2
    exit 1
  fi
  if [ "$(id -u)" -ne 0 ]; then
    echo "docker: dockerd is not running on $socket; start it as root" >&2
    exit 1
  fi
  if [ -d /run/systemd/system ] && systemctl start docker >/dev/null 2>&1 && answers; then
    echo "docker: started dockerd (systemd)"
  else
    echo "docker: starting dockerd (log: $log)"
    nohup dockerd --host="unix://$socket" >>"$log" 2>&1 &
    for _ in $(seq 1 60); do
      answers && break
      sleep 1
    done
    if ! answers; then
      echo "docker: dockerd did not answer on $socket within 60 s; see $log:" >&2
      tail -5 "$log" >&2
      exit 1
    fi
  fi
fi

if docker image inspect "$image" >/dev/null 2>&1; then
  echo "docker: ready ($image present)"
  exit 0
fi

# busybox-static's binary: static, so it runs alone in the image.
busybox=/bin/busybox
if [ ! -x "$busybox" ]; then
  echo "docker: no $busybox (scripts/setup.sh installs busybox-static)" >&2
  exit 1
fi
context="$(mktemp -d)"
trap 'rm -rf "$context"' EXIT
cp "$busybox" "$context/busybox"
cat >"$context/Dockerfile" <<'EOF'
FROM scratch
COPY busybox /bin/busybox
RUN ["/bin/busybox", "--install", "-s", "/bin"]
CMD ["/bin/sh"]
EOF
# The classic builder: it needs no buildx plugin and no registry.
if ! output="$(DOCKER_BUILDKIT=0 docker build -q -t "$image" "$context" 2>&1)"; then
  echo "docker: building $image failed:" >&2
  echo "$output" >&2
  exit 1
fi
echo "docker: ready (built $image)"
