#!/usr/bin/env bash
# Puts the bootable test guest into a running cloud in one command: builds it with
# scripts/build-test-image.sh (a Debian kernel and a busybox initramfs, from Debian packages
# only; cached, so a rerun is instant) and uploads it with the openstack CLI as Glance and Nova
# know such a guest — a kernel (aki), a ramdisk (ari) and the machine image (ami) whose
# kernel_id / ramdisk_id properties name them, as test/libvirt/support/test-image.ts does.
#
# Usage: . ./data/openrc && scripts/upload-test-image.sh [NAME]   (default orrery-test-guest)
#        (or npm run upload-test-image -- [NAME]). Prints the id of the image to boot.
# The guest prints ORRERY-GUEST-BOOTED on its serial console (openstack console log show).
set -euo pipefail

name="${1:-orrery-test-guest}"
command -v openstack >/dev/null || { echo "upload-test-image: the openstack CLI is missing (apt-get install python3-openstackclient)" >&2; exit 1; }
[ -n "${OS_AUTH_URL:-}" ] || { echo "upload-test-image: no cloud credentials in the environment: source the cloud's openrc first (. ./data/openrc)" >&2; exit 1; }

dir=$("$(dirname "$0")/build-test-image.sh" | tail -n 1)
create() { openstack image create -f value -c id "$@"; }
kernel=$(create --disk-format aki --container-format aki --file "$dir/vmlinuz" "$name-kernel")
ramdisk=$(create --disk-format ari --container-format ari --file "$dir/initramfs.img" "$name-ramdisk")
create --disk-format ami --container-format ami --file "$dir/disk.raw" \
  --property "kernel_id=$kernel" --property "ramdisk_id=$ramdisk" --property "os_command_line=console=ttyS0 quiet" "$name"
