import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import type { InstanceRow } from '../db/instances.js';
import { computeServiceOf, serviceIsUp } from '../db/services.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { HostSchema } from './resource-kit.js';
import { BoolSchema as BooleanSchema } from './server-schemas.js';
import { checkActionAllowed, checkBody, generatePassword } from './server-common.js';
import type { SomeActionHandlers } from './server-actions.js';
import { startFlow } from './server-shelve.js';

/**
 * evacuate (Nova's evacuate.py): the server's host is down, so it is rebuilt on another
 * (src/conductor/flows/evacuate.ts). The checks are Nova's API's and compute API's, then the
 * flow is started with its migration record ('evacuation', accepted). 200; below 2.14 the body
 * carries the admin password (the one given or a new one; never stored: no driver sets it).
 */

const AdminPass = Type.String();
const Evacuate21 = Type.Object({
  host: Type.Optional(HostSchema), onSharedStorage: BooleanSchema, adminPass: Type.Optional(AdminPass),
}, { additionalProperties: false });
const Evacuate214 = Type.Object({ host: Type.Optional(HostSchema), adminPass: Type.Optional(AdminPass) }, { additionalProperties: false });
const Evacuate229 = Type.Object({
  host: Type.Optional(HostSchema), adminPass: Type.Optional(AdminPass), force: Type.Optional(BooleanSchema),
}, { additionalProperties: false });

/** The schema of the request's microversion: 2.68 drops `force` again (forced moves removed). */
function evacuateSchema(req: FastifyRequest): TSchema {
  if (mvAtLeast(req, '2.68')) return Evacuate214;
  if (mvAtLeast(req, '2.29')) return Evacuate229;
  if (mvAtLeast(req, '2.14')) return Evacuate214;
  return Evacuate21;
}

async function evacuate(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, raw: unknown): Promise<unknown> {
  const body = checkBody(evacuateSchema(req), raw) as { host?: string; adminPass?: string; onSharedStorage?: boolean | string };
  // Nova's controller: a named host must run a compute service (404), and not be the server's own.
  if (body.host !== undefined) {
    if (!(await computeServiceOf(deps.db, body.host))) throw new NotFound(`Compute host ${body.host} not found.`);
    if (body.host === row.host) throw new BadRequest("The target host can't be the same one.");
  }
  // compute API evacuate: @check_instance_state (the catalogue's states), then the source
  // service must be down (ComputeServiceInUse, 400).
  await checkActionAllowed(deps.db, req, row, 'evacuate');
  const svc = row.host ? await computeServiceOf(deps.db, row.host) : undefined;
  if (svc && serviceIsUp(svc, deps.config)) throw new BadRequest(`Compute service of ${row.host} is still in use.`);
  // Below 2.14, on shared storage means "keep the disk"; Orrery has none, so Nova's own refusal
  // of a password with shared storage is the only difference it makes.
  const shared = body.onSharedStorage === true || (typeof body.onSharedStorage === 'string' && /^(true|1|yes|on|y|t)$/i.test(body.onSharedStorage));
  if (shared && body.adminPass !== undefined) throw new BadRequest("admin password can't be changed on existing disk");

  await startFlow(deps, req, row, 'evacuate', {
    kind: 'evacuation', step: 'schedule', payload: { host: body.host ?? null }, firstEvent: 'conductor_rebuild_instance',
    migration: {
      migration_type: 'evacuation', status: 'accepted', source_compute: row.host, source_node: row.node, source_node_uuid: row.node_uuid,
      dest_compute: body.host ?? null, dest_node: null, dest_node_uuid: null, dest_host: null, old_flavor: row.flavor, new_flavor: row.flavor,
      user_id: req.auth.userId, project_id: req.auth.projectId,
    },
  });
  reply.code(200);
  // Nova answers the password below 2.14 (enable_instance_password); from 2.14 an empty 200
  // (an empty string: undefined is the router's 202, and a reply sent here is sent twice).
  if (!mvAtLeast(req, '2.14')) return { adminPass: shared ? null : body.adminPass ?? generatePassword() };
  return '';
}

export const EVACUATE_ACTIONS = {
  evacuate: { handler: (deps, req, reply, row, body) => evacuate(deps, req, reply, row, body), body: Type.Union([Evacuate21, Evacuate229]) },
} satisfies SomeActionHandlers;
