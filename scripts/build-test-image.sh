#!/usr/bin/env bash
# Builds the tiny guest the libvirt driver's tests boot, from Debian packages only (no cirros,
# nothing downloaded from anywhere else):
#
#   vmlinuz         the Debian kernel (linux-image-*-amd64, downloaded with apt and unpacked,
#                   never installed)                                  → an aki image
#   initramfs.img   busybox-static plus a few kernel modules and an /init that prints a boot
#                   marker on ttyS0, keeps a token on its disk, and powers off on the ACPI
#                   power button (busybox acpid)                       → an ari image
#   disk.raw        a 1 MiB empty disk: the root disk the init writes its token to → an ami image
#
# After its boot marker the guest runs a getty on ttyS0 ("orrery-guest login:"; root, no
# password): the interactive serial console a remote console (websocket proxy) reaches.
#
# Usage: scripts/build-test-image.sh [OUTDIR]   (default $ORRERY_TEST_IMAGE_DIR or
#        /var/cache/orrery-test-image). Prints OUTDIR. A rerun with the same recipe and kernel
#        package is instant (the recipe's hash is kept in OUTDIR/recipe.sha256).
#
# The guest's /init (see below) understands two kernel command line options, so one kernel
# and initramfs serve every test:
#   orrery.acpi=ignore   do not start acpid: the guest ignores the ACPI power button (tests of
#                        the soft reboot / soft power-off fallback to hard)
#   orrery.heartbeat=S   print "orrery-guest: heartbeat K" every S seconds (K counts from 1 at
#                        boot), so a test sees a guest keep running across a live migration
#   orrery.ping=ADDR     once networked, ping ADDR once a second (as ORRERY-PING=ADDR in user data)
# With a disk, the guest also counts its boots in the disk's second sector and prints
# "orrery-guest: boot N": a live migration leaves N alone, a reboot or a cold move adds one.
# Networking (scripts/test-image/orrery-net, in the background after the boot marker): every
# NIC (eth*, also one hot-plugged later) gets its address by DHCP (busybox udhcpc with
# scripts/test-image/udhcpc.script: address, MTU (option 26), classless static routes (option
# 121) or the router) and the guest prints "ORRERY-IP <addr>" and "ORRERY-NET <if> <addr/len>
# mtu=… router=… routes=…"; a NIC that comes or goes prints ORRERY-NIC-ADDED <if> <mac> /
# ORRERY-NIC-REMOVED <if>. Once the first NIC has its address the guest fetches its user data
# (http://169.254.169.254/openstack/latest/user_data) and prints it between ORRERY-USERDATA-BEGIN
# and ORRERY-USERDATA-END (ORRERY-USERDATA-NONE when it cannot); a line ORRERY-PING=ADDR in it
# makes the guest ping ADDR once a second, printing "ORRERY-PING <addr> ok|fail <n>".
set -euo pipefail

OUT="${1:-${ORRERY_TEST_IMAGE_DIR:-/var/cache/orrery-test-image}}"
BUSYBOX="${BUSYBOX:-/bin/busybox}"
NET_FILES="$(cd "$(dirname "$0")" && pwd)/test-image"
MODULES=(
  kernel/drivers/virtio/virtio_ring.ko
  kernel/drivers/virtio/virtio.ko
  kernel/drivers/virtio/virtio_pci_modern_dev.ko
  kernel/drivers/virtio/virtio_pci_legacy_dev.ko
  kernel/drivers/virtio/virtio_pci.ko
  kernel/drivers/block/virtio_blk.ko
  kernel/net/core/failover.ko
  kernel/drivers/net/net_failover.ko
  kernel/drivers/net/virtio_net.ko
  kernel/drivers/acpi/button.ko
  kernel/drivers/input/evdev.ko
)

read -r -d '' INIT <<'EOF' || true
#!/bin/busybox sh
# Orrery test guest. Everything it says goes to ttyS0 (the console log the driver reads).
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sysfs /sys
mount -t devtmpfs devtmpfs /dev 2>/dev/null
exec >/dev/ttyS0 2>&1 </dev/null
for m in $(cat /lib/modules/order); do insmod "/lib/modules/$m" || echo "orrery-guest: insmod $m failed"; done
# virtio disks appear asynchronously after their driver loads
for _ in 1 2 3 4 5 6 7 8 9 10; do [ -b /dev/vda ] && break; sleep 0.2; done
echo "orrery-guest: disks: $(ls /sys/block | grep '^vd' | tr '\n' ' ')"
if [ -b /dev/vda ]; then
  # The root disk keeps a token in its first sector: written on the first boot, printed on
  # every later one, so a snapshot shows it carried the disk.
  first=$(head -c 64 /dev/vda | head -n 1 | tr -dc 'A-Za-z0-9=-')
  case "$first" in
    ORRERY-TOKEN=*) echo "orrery-guest: token found ${first#ORRERY-TOKEN=}" ;;
    *)
      token=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
      printf 'ORRERY-TOKEN=%s\n' "$token" | dd of=/dev/vda conv=notrunc,fsync 2>/dev/null
      sync
      echo "orrery-guest: token written $token"
      ;;
  esac
  boots=$(dd if=/dev/vda bs=512 skip=1 count=1 2>/dev/null | head -n 1 | tr -dc 'A-Z0-9=-')
  case "$boots" in ORRERY-BOOTS=[0-9]*) boots=${boots#ORRERY-BOOTS=} ;; *) boots=0 ;; esac
  boots=$((boots + 1))
  printf 'ORRERY-BOOTS=%s\n' "$boots" | dd of=/dev/vda bs=512 seek=1 conv=notrunc,fsync 2>/dev/null
  sync
  echo "orrery-guest: boot $boots"
fi
if grep -q 'orrery.acpi=ignore' /proc/cmdline; then
  echo "orrery-guest: ignoring the ACPI power button"
else
  acpid -c /etc/acpi -l /dev/null
fi
echo "ORRERY-GUEST-BOOTED"
# A login on ttyS0, as a real guest has (what a remote serial console shows): busybox getty,
# started again whenever a session ends; root has no password in this throwaway guest.
hostname orrery-guest
(while true; do getty -L 115200 ttyS0 vt100; sleep 1; done) &
/etc/orrery-net &
beat=$(tr ' ' '\n' </proc/cmdline | sed -n 's/^orrery.heartbeat=\([0-9][0-9]*\)$/\1/p')
if [ -n "$beat" ] && [ "$beat" -gt 0 ]; then
  k=0
  while true; do sleep "$beat"; k=$((k + 1)); echo "orrery-guest: heartbeat $k"; done
fi
while true; do sleep 3600; done
EOF

read -r -d '' POWER_BUTTON <<'EOF' || true
#!/bin/sh
echo "orrery-guest: power button pressed, powering off" >/dev/ttyS0
sync
poweroff -f
EOF

# The recipe: this script plus busybox; the kernel package is added once it is known.
recipe_hash() {
  { cat "$0" "$NET_FILES/orrery-net" "$NET_FILES/udhcpc.script"; sha256sum "$BUSYBOX"; echo "$1"; } | sha256sum | cut -d' ' -f1
}

kernel_pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)
if [ -z "$kernel_pkg" ]; then
  apt-get update -qq
  kernel_pkg=$(apt-cache depends linux-image-amd64 | sed -n 's/.*Depends: \(linux-image-[0-9][^ ]*-amd64\)$/\1/p' | head -1)
fi
[ -n "$kernel_pkg" ] || { echo "build-test-image: no linux-image-*-amd64 package known to apt" >&2; exit 1; }
want=$(recipe_hash "$kernel_pkg")
built() {
  [ -f "$OUT/recipe.sha256" ] && [ "$(cat "$OUT/recipe.sha256")" = "$want" ] \
    && [ -s "$OUT/vmlinuz" ] && [ -s "$OUT/initramfs.img" ] && [ -s "$OUT/disk.raw" ]
}
if built; then
  echo "$OUT"
  exit 0
fi
# Test files running in parallel may all ask for the image: one builds, the others wait.
mkdir -p "$OUT"
exec 9>"$OUT/.lock"
flock 9
if built; then
  echo "$OUT"
  exit 0
fi
[ -x "$BUSYBOX" ] || { echo "build-test-image: $BUSYBOX missing (apt-get install busybox-static)" >&2; exit 1; }

work=$(mktemp -d /tmp/orrery-test-image.XXXXXX)
trap 'rm -rf "$work"' EXIT
chmod 0755 "$work"   # apt's _apt user downloads into it
(cd "$work" && apt-get download -q "$kernel_pkg" >/dev/null 2>&1) || {
  apt-get update -qq
  (cd "$work" && apt-get download -q "$kernel_pkg" >/dev/null)
}
dpkg-deb -x "$work"/linux-image-*.deb "$work/kernel"
kver=$(ls "$work/kernel/lib/modules" | head -1)

root="$work/initramfs"
mkdir -p "$root"/{bin,dev,proc,sys,etc/acpi/PWRF,lib/modules}
printf 'root::0:0:root:/:/bin/sh\n' >"$root/etc/passwd"
printf 'root:x:0:\n' >"$root/etc/group"
cp "$BUSYBOX" "$root/bin/busybox"
ln -s busybox "$root/bin/sh"
printf '%s\n' "$INIT" >"$root/init"
printf '%s\n' "$POWER_BUTTON" >"$root/etc/acpi/PWRF/00000080"
cp "$NET_FILES/orrery-net" "$root/etc/orrery-net"
cp "$NET_FILES/udhcpc.script" "$root/etc/udhcpc.script"
chmod 0755 "$root/init" "$root/etc/acpi/PWRF/00000080" "$root/etc/orrery-net" "$root/etc/udhcpc.script"
: >"$root/lib/modules/order"
for m in "${MODULES[@]}"; do
  src="$work/kernel/lib/modules/$kver/$m"
  [ -f "$src" ] || { echo "build-test-image: $m is not in $kernel_pkg" >&2; exit 1; }
  cp "$src" "$root/lib/modules/"
  basename "$m" >>"$root/lib/modules/order"
done
(cd "$root" && find . -mindepth 1 | LC_ALL=C sort | "$BUSYBOX" cpio -o -H newc -R 0:0 2>/dev/null | gzip -9 >"$work/initramfs.img")

cp "$work/kernel/boot/vmlinuz-$kver" "$OUT/vmlinuz.tmp" && mv "$OUT/vmlinuz.tmp" "$OUT/vmlinuz"
mv "$work/initramfs.img" "$OUT/initramfs.img"
truncate -s 1M "$OUT/disk.raw.tmp" && mv "$OUT/disk.raw.tmp" "$OUT/disk.raw"
echo "$kernel_pkg" >"$OUT/kernel-package"
chmod 0755 "$OUT"
chmod 0644 "$OUT"/vmlinuz "$OUT"/initramfs.img "$OUT"/disk.raw "$OUT"/kernel-package
echo "$want" >"$OUT/recipe.sha256"
echo "$OUT"
