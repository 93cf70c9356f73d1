import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { lockKey } from '../db/locks.js';
import type { ComputeNodeReport } from '../objects/compute.js';

/**
 * Records the nodes a compute service reports: the node rows, their inventories (keeping the
 * `used` counters the claims maintain) and their traits. Nodes the host no longer reports are
 * marked deleted. Reports are applied one at a time (they may reach different conductors at
 * once, and a node may move between hosts); nodes and resource classes go in sorted order, the
 * order claims lock inventory rows in, so a report and a claim never deadlock.
 */
export async function upsertComputeNodes(db: Db, host: string, nodes: ComputeNodeReport[]): Promise<void> {
  const ts = now().toISOString();
  const byUuid = [...nodes].sort((a, b) => (a.uuid < b.uuid ? -1 : a.uuid > b.uuid ? 1 : 0));
  await db.transaction().execute(async (tx) => {
    await lockKey(tx, 'compute_nodes');
    const existing = await tx.selectFrom('compute_nodes').select(['id', 'uuid']).where('host', '=', host).where('deleted', '=', 0).execute();
    const reported = new Set(nodes.map((n) => n.uuid));
    for (const gone of existing.filter((e) => !reported.has(e.uuid))) {
      await tx.updateTable('compute_nodes').set({ deleted: gone.id, updated_at: ts }).where('id', '=', gone.id).execute();
    }
    for (const n of byUuid) {
      const values = {
        host, hypervisor_hostname: n.node, hypervisor_type: n.hypervisorType, hypervisor_version: n.hypervisorVersion,
        host_ip: n.hostIp, cpu_info: JSON.stringify(n.cpuInfo), updated_at: ts, deleted: 0,
        started_at: typeof n.startedAt === 'number' && Number.isFinite(n.startedAt) ? new Date(n.startedAt).toISOString() : null,
      };
      const res = await tx.updateTable('compute_nodes').set(values).where('uuid', '=', n.uuid).executeTakeFirst();
      if (Number(res.numUpdatedRows) === 0) {
        await tx.insertInto('compute_nodes').values({ ...values, uuid: n.uuid, created_at: ts }).execute();
      }
      for (const [rc, inv] of Object.entries(n.inventory).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))) {
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
        .where('resource_class', 'not in', Object.keys(n.inventory).length > 0 ? Object.keys(n.inventory) : ['']).execute();
      await tx.deleteFrom('node_traits').where('node_uuid', '=', n.uuid).execute();
      if (n.traits.length > 0) {
        await tx.insertInto('node_traits').values([...new Set(n.traits)].map((trait) => ({ node_uuid: n.uuid, trait }))).execute();
      }
    }
  });
}
