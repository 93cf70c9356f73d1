import { now } from '../common/time.js';
import { TaskState, VmState } from '../objects/states.js';
import { releaseResources } from './allocations.js';
import type { Db } from './connection.js';
import { addFault } from './instance-actions.js';

/**
 * The steps of a build that give its claim up: each changes the instance's state only if the
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
