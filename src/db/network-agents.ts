import type { Selectable } from 'kysely';
import { newUuid } from '../common/ids.js';
import type { Db } from './connection.js';
import type { NetworkAgentTable } from './schema-network.js';

/** The network agents: one row per (host, agent type), its heartbeat the time of its last report. */

export type AgentRow = Selectable<NetworkAgentTable>;

export async function listAgents(db: Db): Promise<AgentRow[]> {
  return db.selectFrom('network_agents').selectAll().orderBy('id').execute();
}

export async function getAgent(db: Db, id: string): Promise<AgentRow | null> {
  return (await db.selectFrom('network_agents').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

/** Agents whose last report is newer than `since` (ISO), optionally on some hosts only. */
export async function liveAgents(db: Db, since: string, hosts?: readonly string[]): Promise<AgentRow[]> {
  let q = db.selectFrom('network_agents').selectAll().where('heartbeat_at', '>=', since);
  if (hosts !== undefined) {
    if (hosts.length === 0) return [];
    q = q.where('host', 'in', [...hosts]);
  }
  return q.orderBy('host').execute();
}

/** Records a report: the row made on the first one, its heartbeat and configuration refreshed on every later one. */
export async function upsertAgent(db: Db, a: {
  host: string; agent_type: string; binary: string; availability_zone: string | null; configurations: string; at: string;
}): Promise<void> {
  await db.insertInto('network_agents').values({
    id: newUuid(), host: a.host, agent_type: a.agent_type, binary: a.binary, topic: 'N/A', availability_zone: a.availability_zone,
    configurations: a.configurations, admin_state_up: 1, description: '', started_at: a.at, heartbeat_at: a.at, created_at: a.at,
  }).onConflict((oc) => oc.columns(['host', 'agent_type']).doUpdateSet({
    binary: a.binary, availability_zone: a.availability_zone, configurations: a.configurations, heartbeat_at: a.at,
  })).execute();
}

export async function updateAgent(db: Db, id: string, changes: { admin_state_up?: number; description?: string }): Promise<boolean> {
  if (Object.keys(changes).length === 0) return (await getAgent(db, id)) !== null;
  const r = await db.updateTable('network_agents').set(changes).where('id', '=', id).executeTakeFirst();
  return Number(r.numUpdatedRows) > 0;
}

export async function deleteAgent(db: Db, id: string): Promise<boolean> {
  const r = await db.deleteFrom('network_agents').where('id', '=', id).executeTakeFirst();
  return Number(r.numDeletedRows) > 0;
}
