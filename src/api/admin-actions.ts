import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import { createAction } from '../db/instance-actions.js';
import { updateInstanceRow, type InstanceRow } from '../db/instances.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { restore } from './deferred-delete.js';
import { checkBody, checkInstanceLock, checkInstanceState } from './server-common.js';
import type { ActionEntry } from './server-actions.js';
import { deleteServer } from './servers.js';

/**
 * Admin and deferred-delete actions of POST /servers/{id}/action: os-resetState, forceDelete,
 * restore, and trigger_crash_dump (2.17), which no driver declares yet, so it is answered as
 * Nova answers for a hypervisor without it.
 */

const V = VmState;

const ResetStateBody = Type.Object({
  state: Type.Union([Type.Literal('active'), Type.Literal('error')]),
}, { additionalProperties: false });

/** Nova's reset_state: the vm_state set, the task cleared, recorded as a resetState action. */
async function resetState(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(ResetStateBody, raw);
  await createAction(deps.db, { instanceUuid: row.uuid, action: 'resetState', requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
  await updateInstanceRow(deps.db, row.uuid, { vm_state: body.state === 'active' ? V.ACTIVE : V.ERROR, task_state: null });
  return undefined;
}

async function forceDelete(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  await deleteServer(deps, req, row.uuid, { hard: true });
  return undefined;
}

async function restoreAction(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  checkInstanceLock(req, row);
  checkInstanceState(row, 'restore', [V.SOFT_DELETED]);
  await restore(deps, req, row);
  return undefined;
}

/** Nova's @check_instance_state of trigger_crash_dump, then its TriggerCrashDumpNotSupported (no driver declares the capability). */
async function triggerCrashDump(_deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  checkInstanceLock(req, row);
  checkInstanceState(row, 'trigger_crash_dump', [V.ACTIVE, V.PAUSED, V.RESCUED, V.RESIZED, V.ERROR]);
  throw new BadRequest('Triggering crash dump is not supported');
}

export const ADMIN_ACTIONS: Array<[string, ActionEntry]> = [
  ['os-resetState', {
    handler: (deps, req, _reply, row, body) => resetState(deps, req, row, body), body: ResetStateBody,
    policy: 'os_compute_api:os-admin-actions:reset_state',
  }],
  ['forceDelete', { handler: (deps, req, _reply, row) => forceDelete(deps, req, row), body: null, policy: 'os_compute_api:os-deferred-delete:force' }],
  ['restore', { handler: (deps, req, _reply, row) => restoreAction(deps, req, row), body: null, policy: 'os_compute_api:os-deferred-delete:restore' }],
  ['trigger_crash_dump', {
    handler: (deps, req, _reply, row) => triggerCrashDump(deps, req, row), body: null,
    policy: 'os_compute_api:servers:trigger_crash_dump', since: '2.17',
  }],
];
