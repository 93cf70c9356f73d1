#!/usr/bin/env bash
# Installs QEMU and libvirt from Debian's packages and starts virtlogd and libvirtd, for the
# libvirt driver's tests. Idempotent: packages already there are not reinstalled, daemons
# already running are left alone. No systemd here (see docs/libvirt.md), so the daemons are
# started by hand.
#
# libvirt-daemon-system-sysv is named on purpose: without it apt picks the systemd flavour and
# pulls in (and upgrades) systemd.
set -euo pipefail

export DEBIAN_FRONTEND=noninteractive
PACKAGES=(qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-daemon-system-sysv libvirt-clients busybox-static)

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q '^install ok installed$' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  echo "ci-libvirt: installing ${missing[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${PACKAGES[@]}" >/dev/null
fi

# Debian's udev rule gives /dev/kvm to group kvm (mode 0660); without udev it stays root-only.
# libvirt then finds KVM unusable for its QEMU user (libvirt-qemu, in group kvm) although its
# cached QEMU probe says usable, throws the cache away and probes QEMU again (3-4 s) at every
# domain start. Applying the rule by hand makes starts take 0.3 s. (KVM itself stays unusable
# on this machine kind: guests run with virt_type = qemu.)
if [ -c /dev/kvm ] && getent group kvm >/dev/null; then
  chgrp kvm /dev/kvm && chmod 0660 /dev/kvm
fi

running() { # pid file → true when that process is alive
  [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null
}

mkdir -p /run/libvirt
if ! running /run/virtlogd.pid && ! pgrep -x virtlogd >/dev/null; then
  echo "ci-libvirt: starting virtlogd"
  virtlogd -d --pid-file /run/virtlogd.pid
fi
if ! running /run/libvirt/libvirtd.pid && ! pgrep -x libvirtd >/dev/null; then
  echo "ci-libvirt: starting libvirtd"
  libvirtd -d --pid-file /run/libvirt/libvirtd.pid
fi

# The first start probes QEMU (about 10 s); wait until the daemon answers.
for _ in $(seq 1 120); do
  if virsh -q -c qemu:///system version >/dev/null 2>&1; then
    echo "ci-libvirt: libvirtd is up ($(virsh -q -c qemu:///system version | sed -n 's/^Running hypervisor: //p'))"
    exit 0
  fi
  sleep 0.5
done
echo "ci-libvirt: libvirtd did not answer within 60 s" >&2
exit 1
