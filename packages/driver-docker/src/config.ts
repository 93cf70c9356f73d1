/**
 * The Docker driver's configuration: its [docker] section, as strings. DOCKER_OPTIONS is the
 * one table of its options (name, default, meaning); parseConfig reads them and the
 * configuration reference is generated from it.
 */

export interface DockerOption {
  name: string;
  default: string;
  help: string;
}

/** Every [docker] option, with its default (as the INI file would spell it) and meaning. */
export const DOCKER_OPTIONS: readonly DockerOption[] = [
  { name: 'socket', default: '/var/run/docker.sock', help: 'The Docker Engine API\'s unix socket.' },
  { name: 'api_timeout', default: '120', help: 'Seconds one Engine API request may take (image loads and commits stream longer than single calls).' },
  { name: 'host_ip', default: '127.0.0.1', help: 'The compute host\'s IP as the node reports it.' },
  { name: 'pids_limit', default: '1024', help: 'Most processes one container may run (cgroup pids limit); 0 = unlimited.' },
  {
    name: 'cpu_limit', default: 'quota',
    help: 'How the flavor\'s vCPUs bound a container: quota (CpuQuota/CpuPeriod: at most vcpus CPUs\' time, plus CpuShares 1024 per vCPU) or shares (CpuShares only: a weight under contention).',
  },
  { name: 'stop_timeout', default: '10', help: 'Seconds a soft reboot gives the container\'s processes to exit after SIGTERM before SIGKILL.' },
  {
    name: 'disk_quota', default: 'false',
    help: 'true: the flavor\'s root disk becomes the container\'s writable-layer size (StorageOpt size; overlay2 needs an xfs data root mounted with pquota). false: root disk size is not enforced.',
  },
  { name: 'remove_unused_images', default: 'true', help: 'Remove a loaded image from the daemon once no container uses it (destroy, rebuild); false keeps it cached for the next boot.' },
  {
    name: 'host_netns', default: '',
    help: 'The network namespace the network service\'s bridges live in, as a path (/run/netns/NAME or /proc/PID/ns/net); empty = the driver\'s own. The containers\' veths join the bridges there.',
  },
];

export type CpuLimit = 'quota' | 'shares';

export interface DockerConfig {
  socket: string;
  /** Milliseconds. */
  apiTimeoutMs: number;
  hostIp: string;
  /** 0 = unlimited. */
  pidsLimit: number;
  cpuLimit: CpuLimit;
  /** Seconds. */
  stopTimeout: number;
  diskQuota: boolean;
  removeUnusedImages: boolean;
  /** '' = the driver's own network namespace. */
  hostNetns: string;
}

const DEFAULTS: ReadonlyMap<string, string> = new Map(DOCKER_OPTIONS.map((o) => [o.name, o.default]));

function value(raw: Record<string, string>, key: string): string {
  const v = Object.hasOwn(raw, key) ? raw[key]?.trim() : undefined;
  return v === undefined || v === '' ? DEFAULTS.get(key)! : v;
}

function int(raw: Record<string, string>, key: string, min: number, max = Number.MAX_SAFE_INTEGER): number {
  const v = value(raw, key);
  const n = Number(v);
  if (!Number.isInteger(n) || n < min || n > max) throw new Error(`docker driver: ${key} must be an integer ${min}-${max}, got ${JSON.stringify(v)}`);
  return n;
}

function bool(raw: Record<string, string>, key: string): boolean {
  const v = value(raw, key).toLowerCase();
  if (v === 'true' || v === '1' || v === 'yes') return true;
  if (v === 'false' || v === '0' || v === 'no') return false;
  throw new Error(`docker driver: ${key} must be true or false, got ${JSON.stringify(raw[key])}`);
}

function absolutePath(key: string, v: string, allowEmpty: boolean): string {
  if ((v === '' && allowEmpty) || (v.startsWith('/') && !v.includes('\0') && !v.split('/').includes('..'))) return v;
  throw new Error(`docker driver: ${key} must be an absolute path, got ${JSON.stringify(v)}`);
}

/** Parses and validates the configuration; throws a readable Error on a bad value. */
export function parseConfig(raw: Record<string, string>): DockerConfig {
  const cpuLimit = value(raw, 'cpu_limit').toLowerCase();
  if (cpuLimit !== 'quota' && cpuLimit !== 'shares') throw new Error(`docker driver: cpu_limit must be quota or shares, got ${JSON.stringify(raw['cpu_limit'])}`);
  const hostNetns = Object.hasOwn(raw, 'host_netns') ? (raw['host_netns'] ?? '').trim() : '';
  return {
    socket: absolutePath('socket', value(raw, 'socket'), false),
    apiTimeoutMs: int(raw, 'api_timeout', 1, 3600) * 1000,
    hostIp: value(raw, 'host_ip'),
    pidsLimit: int(raw, 'pids_limit', 0, 4_194_304),
    cpuLimit,
    stopTimeout: int(raw, 'stop_timeout', 0, 3600),
    diskQuota: bool(raw, 'disk_quota'),
    removeUnusedImages: bool(raw, 'remove_unused_images'),
    hostNetns: absolutePath('host_netns', hostNetns, true),
  };
}
