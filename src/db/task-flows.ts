import { Conflict } from '../common/errors.js';
import { newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import type { Selectable } from 'kysely';
import type { MigrationTable, TaskFlowTable } from './schema.js';

/**
 * The conductor's task flows (conductor/task-engine.ts): a move, shelve or unshelve as rows. A
 * flow is driven by the conductor holding its lease; an owner that stops renewing it (killed,
 * cut off) loses the flow to any conductor that finds the lease past. Every advance checks the
 * owner and the step it advances from, in the transaction that writes the step's effects, so
 * a conductor that lost its lease can never move a flow on.
 */

export type FlowStatus = 'running' | 'waiting' | 'done';

export interface FlowRow {
  uuid: string;
  kind: string;
  instanceUuid: string;
  migrationUuid: string | null;
  step: string;
  status: FlowStatus;
  owner: string | null;
  leaseUntil: string;
  attempt: number;
  payload: Record<string, unknown>;
  requestId: string;
  userId: string | null;
  projectId: string | null;
  createdAt: string;
  updatedAt: string;
}

function toFlow(r: Selectable<TaskFlowTable>): FlowRow {
  return {
    uuid: r.uuid, kind: r.kind, instanceUuid: r.instance_uuid, migrationUuid: r.migration_uuid, step: r.step,
    status: r.status as FlowStatus, owner: r.owner, leaseUntil: r.lease_until, attempt: r.attempt,
    payload: JSON.parse(r.payload) as Record<string, unknown>, requestId: r.request_id, userId: r.user_id, projectId: r.project_id,
    createdAt: r.created_at, updatedAt: r.updated_at,
  };
}

/** A migration record to create with a flow (status, hosts and flavors as the move starts). */
export type NewMigration = Omit<Selectable<MigrationTable>, 'id' | 'uuid' | 'instance_uuid' | 'created_at' | 'updated_at' | 'deleted_at'
  | 'deleted' | 'hidden' | 'memory_total' | 'memory_processed' | 'memory_remaining' | 'disk_total' | 'disk_processed' | 'disk_remaining'>;

export interface NewFlow {
  kind: string;
  instanceUuid: string;
  /** The first step to run. */
  step: string;
  payload: Record<string, unknown>;
  requestId: string;
  userId: string | null;
  projectId: string | null;
  /** The migration record the flow moves the instance under; none for shelve and unshelve. */
  migration?: NewMigration;
}

/**
 * Creates a flow (and its migration record), unowned: the conductor told by run_flow, or any
 * conductor's poll, takes it up. Called in the transaction that sets the instance's task state.
 * A second live flow of one instance is refused by the database (task_flows_one_live): 409.
 */
export async function createFlow(tx: Db, f: NewFlow): Promise<{ flowUuid: string; migrationUuid: string | null }> {
  const ts = now().toISOString();
  const flowUuid = newUuid();
  const migrationUuid = f.migration ? newUuid() : null;
  if (f.migration && migrationUuid) {
    await tx.insertInto('migrations').values({
      ...f.migration, uuid: migrationUuid, instance_uuid: f.instanceUuid, created_at: ts, updated_at: ts, deleted_at: null,
      memory_total: null, memory_processed: null, memory_remaining: null, disk_total: null, disk_processed: null, disk_remaining: null,
    }).execute();
  }
  if (await liveFlowOf(tx, f.instanceUuid)) throw new Conflict(`Instance ${f.instanceUuid} is being moved already.`);
  await tx.insertInto('task_flows').values({
    uuid: flowUuid, kind: f.kind, instance_uuid: f.instanceUuid, migration_uuid: migrationUuid, step: f.step, status: 'running',
    owner: null, lease_until: new Date(0).toISOString(), attempt: 0, payload: JSON.stringify(f.payload), request_id: f.requestId,
    user_id: f.userId, project_id: f.projectId, created_at: ts, updated_at: ts,
  }).execute();
  return { flowUuid, migrationUuid };
}

export async function getFlow(db: Db, uuid: string): Promise<FlowRow | null> {
  const r = await db.selectFrom('task_flows').selectAll().where('uuid', '=', uuid).executeTakeFirst();
  return r ? toFlow(r) : null;
}

/** The flow under way (running or waiting) for an instance, if any. */
export async function liveFlowOf(db: Db, instanceUuid: string): Promise<FlowRow | null> {
  const r = await db.selectFrom('task_flows').selectAll().where('instance_uuid', '=', instanceUuid).where('status', '<>', 'done').executeTakeFirst();
  return r ? toFlow(r) : null;
}

const leaseEnd = (leaseMs: number): string => new Date(Date.now() + leaseMs).toISOString();

/**
 * Takes `uuid` for `owner` when it is running and nobody else's lease holds it (unowned, its
 * lease past, or `owner`'s own): answers the flow as taken, or null.
 */
export async function takeFlow(db: Db, uuid: string, owner: string, leaseMs: number): Promise<FlowRow | null> {
  const r = await db.updateTable('task_flows')
    .set({ owner, lease_until: leaseEnd(leaseMs), updated_at: now().toISOString() })
    .where('uuid', '=', uuid).where('status', '=', 'running')
    .where((eb) => eb.or([eb('owner', 'is', null), eb('owner', '=', owner), eb('lease_until', '<', now().toISOString())]))
    .returningAll().executeTakeFirst();
  return r ? toFlow(r) : null;
}

/** The running flows nobody holds (unowned or lease past), oldest first: what a conductor's poll takes up. */
export async function orphanedFlows(db: Db, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('task_flows').select('uuid')
    .where('status', '=', 'running').where('lease_until', '<', now().toISOString())
    .orderBy('created_at').limit(limit).execute();
  return rows.map((r) => r.uuid);
}

/** Extends `owner`'s leases on the flows it drives. */
export async function renewLeases(db: Db, owner: string, uuids: string[], leaseMs: number): Promise<void> {
  if (uuids.length === 0) return;
  await db.updateTable('task_flows').set({ lease_until: leaseEnd(leaseMs) })
    .where('owner', '=', owner).where('uuid', 'in', uuids).where('status', '=', 'running').execute();
}

/** Gives a flow's lease up at once (a conductor stopping), so another takes it without waiting. */
export async function releaseLease(db: Db, owner: string, uuid: string): Promise<void> {
  await db.updateTable('task_flows').set({ lease_until: new Date(0).toISOString() })
    .where('owner', '=', owner).where('uuid', '=', uuid).execute();
}

export interface FlowAdvance {
  step: string;
  status: FlowStatus;
  payload: Record<string, unknown>;
  attempt: number;
}

/**
 * Moves the flow from `fromStep` on, if `owner` still holds it there: false (nothing written)
 * when another conductor took it over or it moved on. Run in the transaction of the step's effects.
 */
export async function advanceFlow(tx: Db, uuid: string, owner: string, fromStep: string, to: FlowAdvance): Promise<boolean> {
  const res = await tx.updateTable('task_flows')
    .set({ step: to.step, status: to.status, payload: JSON.stringify(to.payload), attempt: to.attempt, updated_at: now().toISOString() })
    .where('uuid', '=', uuid).where('owner', '=', owner).where('step', '=', fromStep).where('status', '=', 'running')
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/**
 * A waiting flow (a resize to confirm or revert) set running again at `step`, unowned, by the
 * API's confirm/revert or the conductor's auto-confirm; its steps from here on record their
 * events under `requestId` (the confirm's or revert's own instance action). False when it is
 * not waiting at `from`.
 */
export async function resumeWaitingFlow(tx: Db, uuid: string, from: string, step: string, requestId: string): Promise<boolean> {
  const res = await tx.updateTable('task_flows')
    .set({ step, status: 'running', owner: null, lease_until: new Date(0).toISOString(), attempt: 0, request_id: requestId, updated_at: now().toISOString() })
    .where('uuid', '=', uuid).where('status', '=', 'waiting').where('step', '=', from)
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Waiting flows of `kind` at `step` last changed before `before` (auto-confirm of resizes). */
export async function waitingSince(db: Db, kind: string[], step: string, before: string, limit: number): Promise<FlowRow[]> {
  const rows = await db.selectFrom('task_flows').selectAll()
    .where('status', '=', 'waiting').where('kind', 'in', kind).where('step', '=', step).where('updated_at', '<', before)
    .orderBy('updated_at').limit(limit).execute();
  return rows.map(toFlow);
}
