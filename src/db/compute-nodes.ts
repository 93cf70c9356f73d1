import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import { isResourceClass } from '../common/resource-classes.js';
import { ensureCustomClasses } from './resource-classes.js';
import { instanceCounts, setUnavailable } from './node-owners.js';
import type { ComputeNodeReport } from '../objects/compute.js';

/** Why a node takes no boots when its back-end no longer has it but instances are still on it. */
export const GONE_REASON = 'node is gone from its back-end; its instances can still be deleted';

/**
 * Records the nodes a compute service reports: the node rows, their inventories (keeping the
 * `used` counters the claims maintain) and their traits. Nodes the host no longer reports are
 * marked deleted, or unavailable while instances are on them. Reports are applied one at a time (they may reach different conductors at
 * once, and a node may move between hosts); nodes and resource classes go in sorted order, the
 * order claims lock inventory rows in, so a report and a claim never deadlock.
 * Inventories of any class are recorded, custom ones (CUSTOM_*) made known to Placement; a class
 * that is neither standard nor a well-formed custom name is left out, and returned for the log.
 */
export async function upsertComputeNodes(db: Db, host: string, nodes: ComputeNodeReport[]): Promise<string[]> {
  const ts = now().toISOString();
  const refused = new Set<string>();
  for (const n of nodes) {
    for (const rc of Object.keys(n.inventory)) if (!isResourceClass(rc)) refused.add(rc.slice(0, 300));
  }
  const byUuid = [...nodes].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  await db.transaction().execute(async (tx) => {
    await lockKey(tx, 'compute_nodes');
    const existing = await tx.selectFrom('compute_nodes').select(['id', 'uuid']).where('host', '=', host).where('deleted', '=', 0).execute();
    const reported = new Set(nodes.map((n) => n.uuid));
    const gone = existing.filter((e) => !reported.has(e.uuid));
    const counts = await instanceCounts(tx, gone.map((g) => g.uuid));
    for (const g of gone) {
      // A node gone with instances on it keeps its record (its instances stay listed and
      // deletable) but takes no boots and shows down, with the reason.
      if ((counts.get(g.uuid) ?? 0) > 0) await setUnavailable(tx, g.uuid, GONE_REASON);
      else await tx.updateTable('compute_nodes').set({ deleted: g.id, updated_at: ts }).where('id', '=', g.id).execute();
    }
    for (const n of byUuid) await writeNode(tx, host, n, ts);
  });
  return [...refused];
}

/** A node's inventories of well-formed classes, in the order claims lock them. */
const inventoryOf = (n: ComputeNodeReport) => Object.entries(n.inventory).filter(([rc]) => isResourceClass(rc))
  .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));

/**
 * Writes one reported node: its row (live again if it was deleted), its inventories (keeping
 * `used`) and its traits. Inside a transaction that took the compute_nodes lock.
 */
export async function writeNode(tx: Db, host: string, n: ComputeNodeReport, ts: string): Promise<void> {
  const values = {
    host, hypervisor_hostname: n.node, hypervisor_type: n.hypervisorType, hypervisor_version: n.hypervisorVersion,
    host_ip: n.hostIp, cpu_info: JSON.stringify(n.cpuInfo), updated_at: ts, deleted: 0, unavailable_reason: null,
    started_at: typeof n.startedAt === 'number' && Number.isFinite(n.startedAt) ? new Date(n.startedAt).toISOString() : null,
  };
  const res = await tx.updateTable('compute_nodes').set(values).where('uuid', '=', n.uuid).executeTakeFirst();
  if (Number(res.numUpdatedRows) === 0) {
    await tx.insertInto('compute_nodes').values({ ...values, uuid: n.uuid, created_at: ts }).execute();
  }
  const inventory = inventoryOf(n);
  // Shared nodes are written from cluster syncs too: their custom classes are made known here.
  await ensureCustomClasses(tx, inventory.map(([rc]) => rc));
  for (const [rc, inv] of inventory) {
    const fields = {
      total: inv.total, reserved: inv.reserved, min_unit: inv.minUnit, max_unit: inv.maxUnit,
      step_size: inv.stepSize, allocation_ratio: inv.allocationRatio,
    };
    const upd = await tx.updateTable('inventories').set(fields).where('node_uuid', '=', n.uuid).where('resource_class', '=', rc).executeTakeFirst();
    if (Number(upd.numUpdatedRows) === 0) {
      await tx.insertInto('inventories').values({ ...fields, node_uuid: n.uuid, resource_class: rc, used: 0 }).execute();
    }
  }
  await tx.deleteFrom('inventories').where('node_uuid', '=', n.uuid)
    .where('resource_class', 'not in', inventory.length > 0 ? inventory.map(([rc]) => rc) : ['']).execute();
  await tx.deleteFrom('node_traits').where('node_uuid', '=', n.uuid).execute();
  if (n.traits.length > 0) {
    await tx.insertInto('node_traits').values([...new Set(n.traits)].map((trait) => ({ node_uuid: n.uuid, trait }))).execute();
  }
}

/** A node's hypervisor type (a move's destination must be of the same), or null when the node is unknown. */
export async function hypervisorTypeOf(db: Db, nodeUuid: string): Promise<string | null> {
  const row = await db.selectFrom('compute_nodes').select('hypervisor_type').where('uuid', '=', nodeUuid).executeTakeFirst();
  return row?.hypervisor_type ?? null;
}
