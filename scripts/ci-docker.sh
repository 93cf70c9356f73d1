#!/usr/bin/env bash
# Installs the Docker daemon from Debian's packages and starts dockerd when no daemon answers
# on its socket, for the Docker driver's tests. Idempotent: packages already there are not
# reinstalled, a daemon that answers is left alone. No systemd here, so dockerd is started by
# hand and keeps running after this script.
#
# The daemon runs with --bridge=none --iptables=false --ip-forward=false: the driver gives its
# containers NetworkMode none (and veths of its own on the network service's bridges), so
# Docker's bridge is never used, and Docker's iptables rules (FORWARD policy DROP) would cut
# bridged traffic between containers and QEMU guests on the host's project bridges.
#
# ORRERY_DOCKER_SOCKET names the socket (default /var/run/docker.sock).
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(docker.io containerd busybox-static)
SOCKET="${ORRERY_DOCKER_SOCKET:-/var/run/docker.sock}"
LOG="${ORRERY_DOCKERD_LOG:-/var/log/orrery-dockerd.log}"

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ci-docker: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

answers() { # the daemon answers its client (docker.io ships the CLI) on the socket
  timeout 10 docker -H "unix://$SOCKET" version --format '{{.Server.Version}}' >/dev/null 2>&1
}

if answers; then
  echo "ci-docker: dockerd answers on $SOCKET"
  exit 0
fi

echo "ci-docker: starting dockerd on $SOCKET (log: $LOG)"
# setsid + nohup: the daemon outlives this script and its terminal.
setsid nohup /usr/sbin/dockerd --host "unix://$SOCKET" --bridge=none --iptables=false --ip6tables=false \
  --ip-forward=false --ip-masq=false >>"$LOG" 2>&1 </dev/null &

# Ready in about 0.5 s (BACKENDS.md); containerd's first start can take a few seconds more.
for _ in $(seq 1 120); do
  if answers; then
    echo "ci-docker: dockerd is up ($(docker -H "unix://$SOCKET" version --format '{{.Server.Version}}'))"
    exit 0
  fi
  sleep 0.5
done
echo "ci-docker: dockerd did not answer within 60 s (see $LOG)" >&2
exit 1
