/**
 * The Docker driver's configuration: its [docker] section, as strings. DOCKER_OPTIONS is the
 * one table of its options (default, type, meaning); parseConfig reads them, and the
 * configuration reference is generated from it (the package's `driverOptions` export).
 */
import { optionDefaults, optionProblem, type DriverOptions } from '@orrery/virt-api';

/** The [docker] options ([docker@HOST] overrides them for one host); parseConfig falls back on these defaults. */
export const DOCKER_OPTIONS = {
  socket: { default: '/var/run/docker.sock', help: "The Docker Engine API's unix socket." },
  api_timeout: { default: '120', type: 'int', min: 1, max: 3600, help: 'Seconds one Engine API request may take (an image load or a commit is one request).' },
  host_ip: { default: '127.0.0.1', help: "The compute host's IP as its node reports it." },
  pids_limit: { default: '1024', type: 'int', min: 0, max: 4_194_304, help: 'Most processes one container may run (its cgroup pids limit); 0: unlimited.' },
  cpu_limit: {
    default: 'quota', choices: ['quota', 'shares'],
    help: "How the flavor's vCPUs bound a container: quota (CpuQuota/CpuPeriod: at most vcpus CPUs' time; and CpuShares 1024 per vCPU) or shares (CpuShares alone: a weight under contention).",
  },
  stop_timeout: { default: '10', type: 'int', min: 0, max: 3600, help: "Seconds a soft reboot gives the container's processes to exit after SIGTERM before SIGKILL." },
  disk_quota: {
    default: 'false', type: 'bool',
    help: "true: the flavor's root disk is the container's writable-layer size (StorageOpt size: overlay2 needs an xfs data root mounted with pquota). false: the root disk size is not enforced.",
  },
  remove_unused_images: { default: 'true', type: 'bool', help: 'Remove a loaded image from the daemon once no container uses it (destroy, rebuild); false: keep it cached for the next boot.' },
  host_netns: {
    default: '',
    help: "Network namespace the network service's bridges live in, as /run/netns/NAME or /proc/PID/ns/net (the containers' veths join them there); empty: the driver's own.",
  },
} as const satisfies DriverOptions;

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

const D = optionDefaults(DOCKER_OPTIONS);
type Name = keyof typeof DOCKER_OPTIONS;

/** The value of `key` (its default when unset or empty), checked against its definition. */
function value(raw: Record<string, string>, key: Name): string {
  const given = Object.hasOwn(raw, key) ? (raw[key] ?? '').trim() : '';
  const v = given === '' ? D[key] : given;
  const problem = optionProblem(DOCKER_OPTIONS[key], v);
  if (problem) throw new Error(`docker driver: ${key} ${problem}, got ${JSON.stringify(given)}`);
  return v;
}

const int = (raw: Record<string, string>, key: Name) => Number(value(raw, key));
const bool = (raw: Record<string, string>, key: Name) => /^(1|true|yes|on)$/i.test(value(raw, key));

function absolutePath(key: Name, v: string, allowEmpty: boolean): string {
  if ((v === '' && allowEmpty) || (v.startsWith('/') && !v.split('/').includes('..'))) return v;
  throw new Error(`docker driver: ${key} must be an absolute path, got ${JSON.stringify(v)}`);
}

/** Parses and validates the configuration; throws a readable Error on a bad value. */
export function parseConfig(raw: Record<string, string>): DockerConfig {
  return {
    socket: absolutePath('socket', value(raw, 'socket'), false),
    apiTimeoutMs: int(raw, 'api_timeout') * 1000,
    hostIp: value(raw, 'host_ip'),
    pidsLimit: int(raw, 'pids_limit'),
    cpuLimit: value(raw, 'cpu_limit').toLowerCase() as CpuLimit,
    stopTimeout: int(raw, 'stop_timeout'),
    diskQuota: bool(raw, 'disk_quota'),
    removeUnusedImages: bool(raw, 'remove_unused_images'),
    hostNetns: absolutePath('host_netns', value(raw, 'host_netns'), true),
  };
}
