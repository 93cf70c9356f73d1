/** The one node of a Docker host, as the daemon describes its machine. */
import { randomUUID } from 'node:crypto';
import { readFile, statfs, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import type { DriverContext, Inventory, NodeInfo } from '@orrery/virt-api';
import type { DockerConfig } from './config.js';
import { UUID } from './host.js';

const GiB = 1024 ** 3;

export function inventory(total: number): Inventory {
  return { total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: null };
}

/** "20.10.24+dfsg1" → 20010024 (Nova's hypervisor_version: major × 10⁶ + minor × 10³ + micro). */
export function versionNumber(v: string): number {
  const [major = 0, minor = 0, micro = 0] = v.split(/[.+~-]/).slice(0, 3).map((n) => Number.parseInt(n, 10) || 0);
  return major * 1_000_000 + minor * 1000 + micro;
}

/** What `GET /info` says that the node needs. */
export interface DaemonInfo {
  NCPU?: number;
  MemTotal?: number;
  DockerRootDir?: string;
  ServerVersion?: string;
  Architecture?: string;
  Driver?: string;
  SystemTime?: string;
}

/** Disk of the daemon's data root in GiB (the file system the containers' layers live on). */
export async function diskGbOf(info: DaemonInfo): Promise<number> {
  try {
    const fs = await statfs(info.DockerRootDir ?? '/var/lib/docker');
    return Math.max(1, Math.floor((fs.blocks * fs.bsize) / GiB));
  } catch {
    return 1; // a daemon whose data root this process cannot see
  }
}

export async function describeNode(ctx: DriverContext, cfg: DockerConfig, info: DaemonInfo): Promise<NodeInfo> {
  const uuidFile = join(ctx.stateDir, 'docker-node-uuid');
  let uuid = (await readFile(uuidFile, 'utf8').catch(() => '')).trim();
  if (!UUID.test(uuid)) {
    uuid = randomUUID();
    await writeFile(uuidFile, `${uuid}\n`);
  }
  const vcpus = Math.max(1, info.NCPU ?? 1);
  const memoryMb = Math.max(1, Math.floor((info.MemTotal ?? 0) / (1024 * 1024)));
  return {
    name: ctx.host,
    uuid,
    hypervisorType: 'docker',
    hypervisorVersion: versionNumber(info.ServerVersion ?? '0'),
    cpuInfo: {
      arch: info.Architecture || 'x86_64',
      model: 'container', vendor: 'unknown', topology: { sockets: 1, cores: vcpus, threads: 1 }, features: [],
    },
    hostIp: cfg.hostIp,
    inventory: { VCPU: inventory(vcpus), MEMORY_MB: inventory(memoryMb), DISK_GB: inventory(await diskGbOf(info)) },
    traits: [],
  };
}
