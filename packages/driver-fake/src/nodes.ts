/**
 * The nodes the fake driver reports: what one inventory row and one node look like, for the
 * node-local mode (the configured nodes the back-end still has) and cluster mode (cluster.ts).
 */
import type { Inventory, NodeInfo } from '@orrery/virt-api';
import type { FakeBackend } from './backend.js';
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
