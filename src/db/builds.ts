import { now } from '../common/time.js';
import { TaskState, VmState } from '../objects/states.js';
import { releaseResources } from './allocations.js';
import type { Db } from './connection.js';
import { addFault, finishEvent } from './instance-actions.js';
import { updateInstanceRowReturning, type InstanceRow } from './instances.js';

/**
 * The steps of a build in the database: placing it (placeBuild), and those that give its claim
 * up. Each of the latter changes the instance's state only if the
 * build is still where the caller believes it is (task state, and host when given) and releases
 * the claim in the same transaction. So a step repeated — a redelivered message, a retry after a
 * lost reply — does nothing the second time, and a process killed half-way leaves either the
 * old state with its claim or the new state without it, never an ERROR instance holding
 * resources or a building one that lost them.
 */

export interface BuildAt {
  /** Task states the build may be in. */
  taskStates: string[];
  /** The host the build is on (null: not placed); undefined: any. */
  host?: string | null;
}

function guarded(tx: Db, uuid: string, at: BuildAt) {
  let q = tx.updateTable('instances').where('uuid', '=', uuid).where('deleted', '=', 0).where('task_state', 'in', at.taskStates);
  if (at.host === null) q = q.where('host', 'is', null);
  else if (at.host !== undefined) q = q.where('host', '=', at.host);
  return q;
}

/**
 * Ends a build in ERROR with a fault (Nova's code 500), releasing its claim. Answers false when
 * the build is no longer at `at`: it moved on (nothing changes), or the instance is gone (a claim
 * made for it meanwhile is released: a deleted instance holds nothing).
 */
export async function failBuild(db: Db, uuid: string, at: BuildAt, fault: { message: string; host: string | null }): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const res = await guarded(tx, uuid, at).set({ vm_state: VmState.ERROR, task_state: null, updated_at: now().toISOString() }).executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) {
      const live = await tx.selectFrom('instances').select('id').where('uuid', '=', uuid).where('deleted', '=', 0).executeTakeFirst();
      if (!live) await releaseResources(tx, uuid);
      return false;
    }
    await releaseResources(tx, uuid);
    await addFault(tx, { instanceUuid: uuid, code: 500, message: fault.message, details: fault.message, host: fault.host });
    return true;
  });
}

/**
 * Takes a failed build off its host to be scheduled again (task state scheduling, no host),
 * releasing its claim. Answers false, and changes nothing, when the build is no longer at `at`.
 */
export async function unplaceBuild(db: Db, uuid: string, at: BuildAt): Promise<boolean> {
  return db.transaction().execute(async (tx) => {
    const res = await guarded(tx, uuid, at)
      .set({ host: null, node: null, node_uuid: null, task_state: TaskState.SCHEDULING, vm_state: VmState.BUILDING, updated_at: now().toISOString() })
      .executeTakeFirst();
    if (Number(res.numUpdatedRows) === 0) return false;
    await releaseResources(tx, uuid);
    return true;
  });
}

/** Task states of the live instances among `uuids` (the gone ones are absent): which builds still wait for a host. */
export async function liveTaskStates(db: Db, uuids: string[]): Promise<Map<string, string | null>> {
  if (uuids.length === 0) return new Map();
  const rows = await db.selectFrom('instances').select(['uuid', 'deleted', 'task_state']).where('uuid', 'in', uuids).execute();
  return new Map(rows.filter((r) => r.deleted === 0).map((r) => [r.uuid, r.task_state]));
}

/** Where the scheduler placed a build. */
export interface BuildPlacement {
  host: string;
  node: string;
  nodeUuid: string;
  availabilityZone: string;
}

/**
 * Places a build that is still scheduling on its host and finishes the request's `event` (the
 * schedule event) as a success, in one transaction: one commit where they were three, and no
 * instance placed with its schedule event still open. Refused as updateInstanceRowReturning
 * refuses (NotFound: gone; Conflict: no longer scheduling), changing nothing. Answers the row.
 */
export async function placeBuild(db: Db, uuid: string, at: BuildPlacement, event: { requestId: string; event: string }): Promise<InstanceRow> {
  return db.transaction().execute(async (tx) => {
    const row = await updateInstanceRowReturning(
      tx, uuid, { host: at.host, node: at.node, node_uuid: at.nodeUuid, availability_zone: at.availabilityZone }, [TaskState.SCHEDULING],
    );
    await finishEvent(tx, uuid, event.requestId, event.event, 'Success', null, null);
    return row;
  });
}
