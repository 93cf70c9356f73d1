import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import { createAction } from '../db/instance-actions.js';
import { updateInstanceRow, type InstanceRow } from '../db/instances.js';
import { SERVER_ACTIONS } from '../objects/actions.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { restore } from './deferred-delete.js';
import { checkBody } from './server-common.js';
import type { SomeActionHandlers } from './server-actions.js';
import { deleteServer } from './servers.js';

/**
 * Admin and deferred-delete actions of POST /servers/{id}/action: os-resetState, forceDelete,
 * restore, and trigger_crash_dump (2.17), which no driver declares yet, so it is answered as
 * Nova answers for a hypervisor without it. Their checks (lock, states) are the catalogue's
 * (src/objects/actions.ts), run by the router before these handlers.
 */

const V = VmState;

const ResetStateBody = Type.Object({
  state: Type.Union([Type.Literal('active'), Type.Literal('error')]),
}, { additionalProperties: false });

/** Nova's reset_state: the vm_state set, the task cleared, recorded as a resetState action. */
async function resetState(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(ResetStateBody, raw);
  await createAction(deps.db, {
    instanceUuid: row.uuid, action: SERVER_ACTIONS['os-resetState'].record, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId,
  });
  await updateInstanceRow(deps.db, row.uuid, { vm_state: body.state === 'active' ? V.ACTIVE : V.ERROR, task_state: null });
  return undefined;
}

async function forceDelete(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  await deleteServer(deps, req, row.uuid, { hard: true });
  return undefined;
}

export const ADMIN_ACTIONS = {
  'os-resetState': { handler: (deps, req, _reply, row, body) => resetState(deps, req, row, body), body: ResetStateBody },
  forceDelete: { handler: (deps, req, _reply, row) => forceDelete(deps, req, row), body: null },
  restore: { handler: async (deps, req, _reply, row) => restore(deps, req, row), body: null },
  // Past the catalogue's checks, Nova's TriggerCrashDumpNotSupported (no driver declares the capability).
  trigger_crash_dump: { handler: () => Promise.reject(new BadRequest('Triggering crash dump is not supported')), body: null },
} satisfies SomeActionHandlers;
