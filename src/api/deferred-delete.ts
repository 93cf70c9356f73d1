import type { FastifyRequest } from 'fastify';
import { createAction } from '../db/instance-actions.js';
import type { InstanceRow } from '../db/instances.js';
import { SERVER_ACTIONS } from '../objects/actions.js';
import { TaskState, VmState } from '../objects/states.js';
import { rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { instanceOf, transitionTaskState } from './server-common.js';

/**
 * Deferred delete (Nova's os-deferred-delete): with `[DEFAULT] reclaim_instance_interval` > 0,
 * DELETE of a server on a node powers its guest off and keeps it SOFT_DELETED, restorable until
 * the conductor reclaims it (conductor/reclaim.ts). A server already soft-deleted, or one no
 * node has, is deleted at once.
 */

export function deferredDeleteOn(deps: Pick<ComputeApiDeps, 'config'>): boolean {
  return deps.config.num('DEFAULT', 'reclaim_instance_interval') > 0;
}

/** Soft-deletes the placed server `row` when deletes are deferred; false when it is to be deleted now. */
export async function softDelete(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<boolean> {
  if (!deferredDeleteOn(deps) || row.vm_state === VmState.SOFT_DELETED || row.node === null) return false;
  // As a hard delete, whatever task is under way (which the guest's power-off ends).
  const after = await transitionTaskState(deps.db, row, 'delete', { task_state: TaskState.SOFT_DELETING }, [row.task_state]);
  await createAction(deps.db, { instanceUuid: row.uuid, action: 'delete', requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
  await deps.compute.deferredDeleteAction(rpcContextOf(req), 'soft_delete_instance', await instanceOf(deps.db, after));
  return true;
}

/** Nova's restore: a SOFT_DELETED server back to ACTIVE (its compute powers the guest on). */
export async function restore(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<void> {
  const a = SERVER_ACTIONS.restore;
  const after = await transitionTaskState(deps.db, row, a.name, { task_state: a.taskState }, [...a.taskStates]);
  await createAction(deps.db, { instanceUuid: row.uuid, action: a.record, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
  await deps.compute.deferredDeleteAction(rpcContextOf(req), a.rpc, await instanceOf(deps.db, after));
}
