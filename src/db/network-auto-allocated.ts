import type { Insertable, Selectable } from 'kysely';
import { DuplicateEntry, type Db } from './connection.js';
import type { SubnetTable } from './schema-network.js';
import type { AutoAllocatedTopologyTable } from './schema-network-l3.js';

/** The auto_allocated_topologies repository: claiming a project's topology and its /24. */

export type TopologyRow = Selectable<AutoAllocatedTopologyTable>;

export async function getTopology(db: Db, projectId: string): Promise<TopologyRow | null> {
  return (await db.selectFrom('auto_allocated_topologies').selectAll().where('project_id', '=', projectId).executeTakeFirst()) ?? null;
}

/**
 * Claims the project's topology row with the first of `candidates` no other project holds.
 * The primary key decides between two requests of one project ('taken': the other is making
 * it); the unique cidr between two projects (the loser tries the next /24). Null when every
 * candidate is taken.
 */
export async function claimTopology(db: Db, projectId: string, candidates: Iterable<string>, at: string): Promise<TopologyRow | 'taken' | null> {
  const used = new Set((await db.selectFrom('auto_allocated_topologies').select('cidr').execute()).map((r) => r.cidr));
  for (const cidr of candidates) {
    if (used.has(cidr)) continue;
    try {
      await db.insertInto('auto_allocated_topologies').values({ project_id: projectId, cidr, network_id: null, subnet_id: null, router_id: null, created_at: at }).execute();
      return (await getTopology(db, projectId))!;
    } catch (err) {
      if (!(err instanceof DuplicateEntry)) throw err;
      if (await getTopology(db, projectId)) return 'taken';
      used.add(cidr);
    }
  }
  // Every /24 looked taken — perhaps by this very project's concurrent claim, made after `used` was read.
  return (await getTopology(db, projectId)) ? 'taken' : null;
}

export async function completeTopology(db: Db, projectId: string, ids: { network_id: string; subnet_id: string; router_id: string | null }): Promise<void> {
  await db.updateTable('auto_allocated_topologies').set(ids).where('project_id', '=', projectId).execute();
}

export async function releaseTopology(db: Db, projectId: string): Promise<boolean> {
  const r = await db.deleteFrom('auto_allocated_topologies').where('project_id', '=', projectId).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}

/** The project's default external network (`is_default`), the gateway of auto-allocated routers. */
export async function defaultExternalNetwork(db: Db): Promise<{ id: string } | null> {
  return (await db.selectFrom('networks').select('id').where('router_external', '=', 1).where('is_default', '=', 1).orderBy('created_at').executeTakeFirst()) ?? null;
}

/** The topology's subnet (validated by the caller: a /24 of the pool, its gateway the first address). */
export async function insertTopologySubnet(db: Db, row: Insertable<SubnetTable>): Promise<void> {
  await db.insertInto('subnets').values(row).execute();
}

/** Whether a port other than the network's own (DHCP) and the router's interfaces is on the network (a server's). */
export async function networkHasServerPorts(db: Db, networkId: string): Promise<boolean> {
  const busy = await db.selectFrom('ports').select('id').where('network_id', '=', networkId)
    .where('device_owner', 'not in', ['network:dhcp', 'network:router_interface']).executeTakeFirst();
  return busy !== undefined;
}
