import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import { computeServicesOf } from './instance-list.js';
import type { ComputeNodeTable } from './schema.js';
import type { ServiceRow } from './services.js';

/**
 * Compute nodes and hosts as the admin APIs see them (os-hypervisors, os-hosts, a requested
 * destination): one hypervisor per compute node, its resources read from the node's
 * inventories (VCPU, MEMORY_MB, DISK_GB) and its state from its host's nova-compute service.
 */

export type ComputeNodeRow = Selectable<ComputeNodeTable>;

export interface Hypervisor {
  node: ComputeNodeRow;
  service: ServiceRow;
  vcpus: number;
  vcpusUsed: number;
  memoryMb: number;
  memoryMbUsed: number;
  localGb: number;
  localGbUsed: number;
  runningVms: number;
  currentWorkload: number;
}

/** Live nodes whose host has a live compute service, in id order, with their usage. */
export async function loadHypervisors(db: Db, filter: { ids?: number[] } = {}): Promise<Hypervisor[]> {
  let q = db.selectFrom('compute_nodes').selectAll().where('deleted', '=', 0);
  if (filter.ids) q = q.where('id', 'in', filter.ids.length > 0 ? filter.ids : [-1]);
  const nodes = await q.orderBy('id').execute();
  if (nodes.length === 0) return [];
  const uuids = nodes.map((n) => n.uuid);
  const [serviceOf, inventories, load] = await Promise.all([
    computeServicesOf(db, nodes.map((n) => n.host)),
    db.selectFrom('inventories').selectAll().where('node_uuid', 'in', uuids).execute(),
    // Instances per node, and how many of them are busy with a task (Nova's current_workload).
    db.selectFrom('instances')
      .select((eb) => ['node_uuid', eb.fn.countAll<number>().as('vms'), eb.fn.count<number>('task_state').as('busy')])
      .where('deleted', '=', 0).where('node_uuid', 'in', uuids).groupBy('node_uuid').execute(),
  ]);
  const inventoryOf = new Map(inventories.map((i) => [`${i.node_uuid} ${i.resource_class}`, i]));
  const loadOf = new Map(load.map((l) => [l.node_uuid, l]));
  const out: Hypervisor[] = [];
  for (const node of nodes) {
    const service = serviceOf.get(node.host);
    if (!service) continue;
    const inv = (rc: string): { total: number; used: number; reserved: number } =>
      inventoryOf.get(`${node.uuid} ${rc}`) ?? { total: 0, used: 0, reserved: 0 };
    const vcpu = inv('VCPU');
    const mem = inv('MEMORY_MB');
    const disk = inv('DISK_GB');
    const nodeLoad = loadOf.get(node.uuid);
    out.push({
      node,
      service,
      vcpus: vcpu.total,
      vcpusUsed: vcpu.used,
      // Nova's resource tracker counts the host's reserved memory and disk as used.
      memoryMb: mem.total,
      memoryMbUsed: mem.used + mem.reserved,
      localGb: disk.total,
      localGbUsed: disk.used + disk.reserved,
      runningVms: Number(nodeLoad?.vms ?? 0),
      currentWorkload: Number(nodeLoad?.busy ?? 0),
    });
  }
  return out;
}

/** The live instances on the given nodes, in id order. */
export async function instancesOnNodes(db: Db, nodeUuids: string[]): Promise<Array<{ id: number; uuid: string; node_uuid: string | null }>> {
  if (nodeUuids.length === 0) return [];
  return db.selectFrom('instances').select(['id', 'uuid', 'node_uuid']).where('deleted', '=', 0)
    .where('node_uuid', 'in', nodeUuids).orderBy('id').execute();
}

/** The inventories of a host's live nodes (all of them together). */
export async function hostInventories(db: Db, host: string): Promise<Array<{ resource_class: string; total: number; used: number; reserved: number }>> {
  const nodes = await db.selectFrom('compute_nodes').select('uuid').where('host', '=', host).where('deleted', '=', 0).execute();
  if (nodes.length === 0) return [];
  return db.selectFrom('inventories').select(['resource_class', 'total', 'used', 'reserved'])
    .where('node_uuid', 'in', nodes.map((n) => n.uuid)).execute();
}

/** What each live instance on a host uses, with its project. */
export async function hostInstanceUsage(
  db: Db, host: string,
): Promise<Array<{ project_id: string; vcpus: number; memory_mb: number; root_gb: number; ephemeral_gb: number }>> {
  return db.selectFrom('instances').select(['project_id', 'vcpus', 'memory_mb', 'root_gb', 'ephemeral_gb'])
    .where('host', '=', host).where('deleted', '=', 0).execute();
}

/** Whether a live node has this hypervisor hostname (on `host`, when given). */
export async function liveNodeNamed(db: Db, node: string, host?: string): Promise<boolean> {
  let q = db.selectFrom('compute_nodes').select('hypervisor_hostname').where('hypervisor_hostname', '=', node).where('deleted', '=', 0);
  if (host !== undefined) q = q.where('host', '=', host);
  return (await q.executeTakeFirst()) !== undefined;
}
