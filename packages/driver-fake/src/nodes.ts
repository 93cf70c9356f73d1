/**
 * The nodes the fake driver reports: what one inventory row and one node look like, for the
 * node-local mode (the configured nodes the back-end still has) and cluster mode (cluster.ts).
 */
import type { FlavorSpec, Inventory, NodeInfo } from '@orrery/virt-api';
import type { FakeBackend, FakeInstance } from './backend.js';
import type { FakeConfig } from './config.js';

/** One inventory of `total` units, each claimable alone, at the operator's allocation ratio. */
export const inventoryOf = (total: number): Inventory => ({
  total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: null,
});

/** The fake CPU of a node with `cores` cores. */
export const fakeCpuInfo = (cores: number): NodeInfo['cpuInfo'] => ({
  arch: 'x86_64', model: 'Orrery-Fake', vendor: 'Orrery', topology: { sockets: 1, cores, threads: 1 }, features: [],
});

/** The configured nodes the back-end has (a test may take one off it: removeNode). */
export function localNodes(b: FakeBackend, cfg: FakeConfig, startedAt: number): NodeInfo[] {
  const present = new Map(b.listNodes().map((n) => [n.name, n.uuid]));
  return cfg.nodeNames.filter((name) => present.has(name)).map((name) => ({
    name,
    uuid: present.get(name)!,
    hypervisorType: 'fake',
    hypervisorVersion: 1000,
    cpuInfo: fakeCpuInfo(cfg.vcpus),
    hostIp: cfg.hostIp,
    inventory: {
      ...(cfg.nodeResourceClass
        ? { [cfg.nodeResourceClass]: inventoryOf(1) }
        : { VCPU: inventoryOf(cfg.vcpus), MEMORY_MB: inventoryOf(cfg.memoryMb), DISK_GB: inventoryOf(cfg.diskGb) }),
      ...Object.fromEntries(Object.entries(cfg.resources).map(([rc, n]) => [rc, inventoryOf(n)])),
    },
    traits: [...cfg.traits],
    startedAt,
  }));
}

/** The inventory of a node: its own (added or resized at run time), else the configuration's. */
export function nodeTotals(cfg: FakeConfig, own: Record<string, number> | null): Record<string, number> {
  return own ?? { VCPU: cfg.vcpus, MEMORY_MB: cfg.memoryMb, DISK_GB: cfg.diskGb, ...cfg.resources };
}

/** Why flavor `f` does not fit on `node` (larger than the node: the fake claims nothing itself), or null. */
export function roomProblem(cfg: FakeConfig, b: FakeBackend, node: string, f: FlavorSpec): string | null {
  const disk = f.rootGb + f.ephemeralGb;
  const size = cfg.cluster
    ? nodeTotals(cfg, b.nodeInventories().find((n) => n.name === node)?.inventory ?? null)
    : { VCPU: cfg.vcpus, MEMORY_MB: cfg.memoryMb, DISK_GB: cfg.diskGb };
  if (f.vcpus <= (size.VCPU ?? 0) && f.memoryMb <= (size.MEMORY_MB ?? 0) && disk <= (size.DISK_GB ?? 0)) return null;
  return `flavor ${f.name} (${f.vcpus} VCPU, ${f.memoryMb} MB, ${disk} GB) is larger than node ${node}`;
}

/** What a guest's console shows. */
export function consoleText(r: FakeInstance): string {
  return [
    '[    0.000000] Linux version 6.1.0-orrery-fake (fake@orrery) #1 SMP',
    `[    0.120000] fake hypervisor: booting ${r.name} (${r.uuid}) on ${r.node}`,
    `[    1.000000] cloud-init: image ${r.imageId}, ${r.vcpus} VCPU, ${r.memoryMb} MB`,
    `${r.name} login: `,
  ].join('\n');
}
