import { now } from '../common/time.js';
import { VmState } from '../objects/states.js';
import type { Db } from './connection.js';
import { createAction, startEvent } from './instance-actions.js';
import { createFlow, type NewFlow } from './task-flows.js';
import { atomically } from './transactions.js';

/**
 * Starting the flows of shelve, shelve offload, unshelve and evacuate (the API's actions and
 * the conductor's periodic offload), and the periodic offload's query.
 */

/** Shelved servers with no task, shelved before `before` (ISO): what the periodic offload takes (conductor/shelve-offload.ts). */
export async function shelvedBefore(db: Db, before: string, limit: number): Promise<string[]> {
  const rows = await db.selectFrom('instances').select('uuid')
    .where('deleted', '=', 0).where('vm_state', '=', VmState.SHELVED).where('task_state', 'is', null)
    .where('shelved_at', '<', before).orderBy('shelved_at').limit(limit).execute();
  return rows.map((r) => r.uuid);
}

export interface InstanceFlowStart {
  /** The task state the instance shows while the flow runs. */
  taskState: string;
  /** The vm states and task states it may start from (checked in the update that sets the task state). */
  vmStates: readonly string[];
  taskStates: ReadonlyArray<string | null>;
  /** Only an instance shelved before this (ISO): the periodic offload's own check, again in the update. */
  shelvedBefore?: string;
  /** The instance action's record (os-instance-actions) and who it is for. */
  action: { name: string; projectId: string; userId: string };
  /** The first step's action event, started now so that it shows while the step runs. */
  firstEvent: string | null;
  flow: NewFlow;
}

/**
 * In one transaction: the instance's task state (only from the states given), the instance
 * action, the first event, and the flow with its migration record. Answers the flow, or null
 * when the instance was not in those states (nothing written); a second live flow of the
 * instance is the database's 409 (task_flows_one_live).
 */
export async function startInstanceFlow(db: Db, s: InstanceFlowStart): Promise<{ flowUuid: string; migrationUuid: string | null } | null> {
  const uuid = s.flow.instanceUuid;
  return atomically(db, async (tx) => {
    let q = tx.updateTable('instances').set({ task_state: s.taskState, updated_at: now().toISOString() })
      .where('uuid', '=', uuid).where('deleted', '=', 0).where('vm_state', 'in', [...s.vmStates]);
    const tasks = s.taskStates.filter((t): t is string => t !== null);
    const anyNone = s.taskStates.includes(null);
    q = q.where((eb) => eb.or([...(tasks.length > 0 ? [eb('task_state', 'in', tasks)] : []), ...(anyNone ? [eb('task_state', 'is', null)] : [])]));
    if (s.shelvedBefore) q = q.where('shelved_at', '<', s.shelvedBefore);
    const res = await q.executeTakeFirst();
    if (Number(res.numUpdatedRows) !== 1) return null;
    const { name: action, projectId, userId } = s.action;
    await createAction(tx, { instanceUuid: uuid, action, requestId: s.flow.requestId, projectId, userId });
    if (s.firstEvent) await startEvent(tx, uuid, s.flow.requestId, s.firstEvent, null);
    return createFlow(tx, s.flow);
  });
}
