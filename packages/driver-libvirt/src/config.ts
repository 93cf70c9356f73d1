/** The libvirt driver's configuration: its [libvirt] section, as strings. */
import { join } from 'node:path';

export type VirtType = 'qemu' | 'kvm';

export interface LibvirtConfig {
  /** libvirt connection URI (Nova's [libvirt] connection_uri). */
  connectionUri: string;
  /** Domain type: 'qemu' (software emulation, TCG) or 'kvm' (Nova's [libvirt] virt_type). */
  virtType: VirtType;
  /** Where each instance's directory (disks, console log, libvirt.xml) lives. */
  instancesPath: string;
  /** The image cache: one file per image id, the backing file of every overlay. */
  imageCachePath: string;
  /** Scratch space for snapshots (removed as soon as the upload is done). */
  snapshotsPath: string;
  /** How often the cache manager runs, in seconds; 0 switches it off. */
  imageCacheManagerInterval: number;
  /** A cache entry no instance uses is removed once it has been unused this long (seconds). */
  imageCacheMaxAge: number;
  /** How long a soft reboot waits for the guest to react to the ACPI request before a hard reboot. */
  waitSoftRebootSeconds: number;
  /** Guests get the flavor's memory but at least this much (Linux under TCG needs about 96 MiB). */
  minMemoryMb: number;
  /** TCG translation cache size in MiB (virt_type qemu only; 0: QEMU's default, much bigger). */
  tbCacheMb: number;
  /** Machine type of every guest. */
  machineType: string;
  /** Kernel command line for direct kernel boot when the image has no os_command_line property. */
  kernelCmdline: string;
  /** The compute host's IP as the node reports it. */
  hostIp: string;
  /** Cold moves: seconds a running guest gets to shut down through ACPI before it is powered off hard (0: hard at once). */
  shutdownTimeout: number;
  /** Live migration: the URI a source's virsh reaches this host's libvirtd at (default: connection_uri). */
  migrationUri: string;
  /** Live migration: the address this host's QEMUs receive an incoming migration on (default: host_ip). */
  migrationAddress: string;
  /** Live migration: a migration still running after this many seconds fails (MigrationFailed). */
  liveMigrationTimeout: number;
  /**
   * The network namespace libvirtd (and so the guests' taps) lives in, as a path
   * (/run/netns/<name> or /proc/<pid>/ns/net); '' = the driver's own. plugVifs makes the
   * bridges there (contract 1.3).
   */
  hostNetns: string;
  /** How long a live interface detach waits for the guest to let the NIC go (seconds). */
  detachTimeout: number;
  /**
   * The address guests' VNC and serial consoles listen on, on the host libvirtd runs in (Nova's
   * [vnc] server_listen and [serial_console] proxyclient_address in one): the console proxy
   * connects to it, so it must be reachable from the API process (loopback: the same machine).
   */
  consoleListen: string;
  /** The TCP ports guests' serial consoles are given from, inclusive (Nova's [serial_console] port_range). */
  serialPortRange: { min: number; max: number };
}

function int(raw: Record<string, string>, key: string, dflt: number, min: number): number {
  const v = raw[key];
  if (v === undefined || v.trim() === '') return dflt;
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`libvirt driver: ${key} must be an integer >= ${min}, got ${JSON.stringify(v)}`);
  return n;
}

function str(raw: Record<string, string>, key: string, dflt: string): string {
  const v = raw[key]?.trim();
  return v ? v : dflt;
}

/** "MIN:MAX", 1024 <= MIN <= MAX <= 65535. */
function portRange(v: string): { min: number; max: number } {
  const m = /^(\d{1,5}):(\d{1,5})$/.exec(v);
  const min = Number(m?.[1]);
  const max = Number(m?.[2]);
  if (!m || min < 1024 || max > 65535 || min > max) throw new Error(`libvirt driver: serial_port_range must be MIN:MAX within 1024-65535, got ${JSON.stringify(v)}`);
  return { min, max };
}

/** An IP literal or host name (it goes into the domain definition and the proxy's connect). */
function listenAddress(v: string): string {
  if (!/^[A-Za-z0-9.:-]{1,253}$/.test(v)) throw new Error(`libvirt driver: console_listen must be an address, got ${JSON.stringify(v)}`);
  return v;
}

function netnsPath(v: string): string {
  if (v !== '' && (!v.startsWith('/') || v.includes('\0') || v.split('/').includes('..'))) {
    throw new Error(`libvirt driver: host_netns must be an absolute path (e.g. /run/netns/NAME), got ${JSON.stringify(v)}`);
  }
  return v;
}

/** Parses and validates the configuration; throws a readable Error on a bad value. */
export function parseConfig(stateDir: string, raw: Record<string, string>): LibvirtConfig {
  const virtType = str(raw, 'virt_type', 'qemu').toLowerCase();
  if (virtType !== 'qemu' && virtType !== 'kvm') {
    throw new Error(`libvirt driver: virt_type must be qemu or kvm, got ${JSON.stringify(raw['virt_type'])}`);
  }
  const instancesPath = str(raw, 'instances_path', join(stateDir, 'instances'));
  const connectionUri = str(raw, 'connection_uri', 'qemu:///system');
  const hostIp = str(raw, 'host_ip', '127.0.0.1');
  return {
    connectionUri,
    virtType,
    instancesPath,
    imageCachePath: str(raw, 'image_cache_path', join(instancesPath, '_base')),
    snapshotsPath: str(raw, 'snapshots_directory', join(instancesPath, 'snapshots')),
    imageCacheManagerInterval: int(raw, 'image_cache_manager_interval', 2400, 0),
    imageCacheMaxAge: int(raw, 'remove_unused_original_minimum_age_seconds', 86400, 0),
    waitSoftRebootSeconds: int(raw, 'wait_soft_reboot_seconds', 120, 0),
    minMemoryMb: int(raw, 'min_memory_mb', 128, 1),
    tbCacheMb: int(raw, 'tb_cache_mb', 32, 0),
    machineType: str(raw, 'hw_machine_type', 'pc'),
    kernelCmdline: str(raw, 'kernel_cmdline', 'root=/dev/vda console=tty0 console=ttyS0'),
    hostIp,
    shutdownTimeout: int(raw, 'shutdown_timeout', 60, 0),
    migrationUri: str(raw, 'live_migration_uri', connectionUri),
    migrationAddress: str(raw, 'migration_address', hostIp),
    liveMigrationTimeout: int(raw, 'live_migration_timeout', 1800, 1),
    hostNetns: netnsPath(str(raw, 'host_netns', '')),
    detachTimeout: int(raw, 'device_detach_timeout', 20, 1),
    consoleListen: listenAddress(str(raw, 'console_listen', '127.0.0.1')),
    serialPortRange: portRange(str(raw, 'serial_port_range', '10000:20000')),
  };
}
