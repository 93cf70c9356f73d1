/** The libvirt driver's configuration: its [libvirt] section, as strings. */
import { join } from 'node:path';
import { IMAGE_FORMATS } from './host.js';
import { optionDefaults, type DriverOptions } from '@orrery/virt-api';

/** The [libvirt] options (Nova's names where the meaning is Nova's); parseConfig falls back on these defaults. */
export const LIBVIRT_OPTIONS = {
  connection_uri: { default: 'qemu:///system', help: 'libvirt connection URI.' },
  virt_type: { default: 'qemu', choices: ['qemu', 'kvm'], help: "Domain type: qemu (software emulation, TCG, <domain type='qemu'>) or kvm (hardware virtualization, <domain type='kvm'>, host-model CPU)." },
  instances_path: { default: '', help: "Directory of each instance's disks, console log and libvirt.xml; empty: instances/ in the compute host's state directory ($state_path/compute/HOST). QEMU runs as libvirt-qemu: every parent directory must be searchable by other users (the driver warns at start when one is not)." },
  image_cache_path: { default: '', help: 'The image cache (one file per image, the backing file of every overlay); empty: instances_path/_base.' },
  snapshots_directory: { default: '', help: 'Scratch space for snapshots, emptied as soon as the upload is done; empty: instances_path/snapshots.' },
  image_cache_manager_interval: { default: '2400', type: 'int', min: 0, help: 'Seconds between runs of the image cache manager; 0: never.' },
  remove_unused_original_minimum_age_seconds: { default: '86400', type: 'int', min: 0, help: 'Seconds a cached image no instance uses is kept before it is removed.' },
  wait_soft_reboot_seconds: { default: '120', type: 'int', min: 0, help: 'Seconds a soft reboot waits for the guest to react to ACPI before it reboots hard.' },
  min_memory_mb: { default: '128', type: 'int', min: 1, help: "Guests get the flavor's memory but at least this many MiB (Linux under TCG needs about 96)." },
  tb_cache_mb: { default: '32', type: 'int', min: 0, help: "MiB of QEMU's TCG translation cache (virt_type qemu only; 0: QEMU's default, much bigger); 32 saves about 20 MB of host memory per guest." },
  hw_machine_type: { default: 'pc', help: 'Machine type of every guest.' },
  kernel_cmdline: { default: 'root=/dev/vda console=tty0 console=ttyS0', help: 'Kernel command line for direct kernel boot when the image has no os_command_line property.' },
  host_ip: { default: '127.0.0.1', help: "The compute host's IP as its node reports it." },
  shutdown_timeout: { default: '60', type: 'int', min: 0, help: 'Cold moves: seconds a running guest gets to shut down through ACPI before it is powered off; 0: at once.' },
  live_migration_uri: { default: '', help: "Live migration: URI a source's virsh reaches this host's libvirtd at; empty: connection_uri." },
  migration_address: { default: '', help: "Live migration: address this host's QEMUs receive incoming migrations on; empty: host_ip." },
  live_migration_timeout: { default: '1800', type: 'int', min: 1, help: 'Live migration: seconds after which a migration still running fails.' },
  host_netns: { default: '', help: "Network namespace libvirtd (and so the guests' taps) lives in, as /run/netns/NAME or /proc/PID/ns/net; empty: the driver's own. plugVifs makes the ports' bridges there." },
  device_detach_timeout: { default: '20', type: 'int', min: 1, help: 'Seconds a live interface detach waits for the guest to let the NIC go (the request is repeated every 3 s).' },
  image_formats: { default: 'qcow2,raw,ami', type: 'list', help: 'Image formats this host declares and is scheduled for: a subset of qcow2, raw, ami (narrowed when another host of the cloud takes the rest).' },
  console_listen: {
    default: '127.0.0.1',
    help: "Address guests' VNC and serial consoles listen on, in libvirtd's network namespace; the API process's console proxy connects to it (loopback: on the same machine).",
  },
  serial_port_range: { default: '10000:20000', help: "MIN:MAX, the TCP ports guests' serial consoles (ttyS0) are given from (Nova's [serial_console] port_range)." },
} as const satisfies DriverOptions;

const D = optionDefaults(LIBVIRT_OPTIONS);

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
   * The image formats this host declares (and so is scheduled), a subset of IMAGE_FORMATS;
   * default all. Narrowed when another host of the cloud is meant to take the rest (raw).
   */
  imageFormats: string[];
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

function imageFormats(v: string): string[] {
  const formats = v.split(',').map((f) => f.trim().toLowerCase()).filter(Boolean);
  const unknown = formats.filter((f) => !IMAGE_FORMATS.includes(f));
  if (unknown.length > 0) throw new Error(`libvirt driver: image_formats may list ${IMAGE_FORMATS.join(', ')}, got ${JSON.stringify(v)}`);
  return formats.length > 0 ? [...new Set(formats)] : [...IMAGE_FORMATS];
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
  const virtType = str(raw, 'virt_type', D.virt_type).toLowerCase();
  if (virtType !== 'qemu' && virtType !== 'kvm') {
    throw new Error(`libvirt driver: virt_type must be qemu or kvm, got ${JSON.stringify(raw['virt_type'])}`);
  }
  const instancesPath = str(raw, 'instances_path', join(stateDir, 'instances'));
  const connectionUri = str(raw, 'connection_uri', D.connection_uri);
  const hostIp = str(raw, 'host_ip', D.host_ip);
  return {
    connectionUri,
    virtType,
    instancesPath,
    imageCachePath: str(raw, 'image_cache_path', join(instancesPath, '_base')),
    snapshotsPath: str(raw, 'snapshots_directory', join(instancesPath, 'snapshots')),
    imageCacheManagerInterval: int(raw, 'image_cache_manager_interval', Number(D.image_cache_manager_interval), 0),
    imageCacheMaxAge: int(raw, 'remove_unused_original_minimum_age_seconds', Number(D.remove_unused_original_minimum_age_seconds), 0),
    waitSoftRebootSeconds: int(raw, 'wait_soft_reboot_seconds', Number(D.wait_soft_reboot_seconds), 0),
    minMemoryMb: int(raw, 'min_memory_mb', Number(D.min_memory_mb), 1),
    tbCacheMb: int(raw, 'tb_cache_mb', Number(D.tb_cache_mb), 0),
    machineType: str(raw, 'hw_machine_type', D.hw_machine_type),
    kernelCmdline: str(raw, 'kernel_cmdline', D.kernel_cmdline),
    hostIp,
    shutdownTimeout: int(raw, 'shutdown_timeout', Number(D.shutdown_timeout), 0),
    migrationUri: str(raw, 'live_migration_uri', connectionUri),
    migrationAddress: str(raw, 'migration_address', hostIp),
    liveMigrationTimeout: int(raw, 'live_migration_timeout', Number(D.live_migration_timeout), 1),
    hostNetns: netnsPath(str(raw, 'host_netns', '')),
    detachTimeout: int(raw, 'device_detach_timeout', Number(D.device_detach_timeout), 1),
    imageFormats: imageFormats(raw['image_formats'] ?? D.image_formats),
    consoleListen: listenAddress(str(raw, 'console_listen', D.console_listen)),
    serialPortRange: portRange(str(raw, 'serial_port_range', D.serial_port_range)),
  };
}
