/**
 * The fake driver's cluster mode: one back-end file shared by several compute processes, as a
 * bare-metal pool or a vCenter is shared by the computes that reach it. Its nodes live in the
 * file, not in the configuration: the configured nodes seed it once, then nodes are added,
 * removed and resized at run time (from a test through FakeBackend, or `orrery-fake-cluster`).
 * SQLite is the lock and the atomic write: every change is one transaction in WAL mode, which
 * every process sees at its next statement. Each call that names a node or an instance is
 * appended to the file's call record, so a test can prove no instance was operated on twice.
 */
import { join } from 'node:path';
import type { NodeInfo } from '@orrery/virt-api';
import type { FakeBackend } from './backend.js';
import type { FakeConfig } from './config.js';
import { fakeCpuInfo, inventoryOf, nodeTotals } from './nodes.js';

/** Where a cluster's shared file is: the configured one, or one beside every host's state directory. */
export function clusterStatePath(stateDir: string, cfg: FakeConfig): string {
  if (cfg.clusterStateFile) return cfg.clusterStateFile;
  return join(stateDir, '..', `fake-cluster-${cfg.cluster!.replace(/[^A-Za-z0-9._-]/g, '_')}.sqlite`);
}

/** Seeds a new cluster file with the configured nodes (the first compute to start does it). */
export function seedCluster(b: FakeBackend, cfg: FakeConfig): void {
  b.seedOnce('seeded', () => {
    for (const name of cfg.nodeNames) b.addNode(name, null);
  });
}

/** Every node of the shared back-end. */
export function clusterNodes(b: FakeBackend, cfg: FakeConfig): NodeInfo[] {
  return b.nodeInventories().map((n) => {
    const totals = nodeTotals(cfg, n.inventory);
    return {
      name: n.name,
      uuid: n.uuid,
      hypervisorType: 'fake',
      hypervisorVersion: 1000,
      cpuInfo: fakeCpuInfo(totals.VCPU ?? 1),
      hostIp: cfg.hostIp,
      inventory: Object.fromEntries(Object.entries(totals).filter(([, total]) => total > 0).map(([rc, total]) => [rc, inventoryOf(total)])),
      traits: [...cfg.traits],
    };
  });
}
