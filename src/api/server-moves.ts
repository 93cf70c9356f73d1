import type { FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import type { InstanceRow } from '../db/instances.js';
import { computeServiceOf, serviceIsUp } from '../db/services.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { HostSchema } from './resource-kit.js';
import { BoolSchema as BooleanSchema } from './server-schemas.js';
import { checkActionAllowed, checkBody } from './server-common.js';
import type { SomeActionHandlers } from './server-actions.js';

/**
 * evacuate and os-migrateLive. Orrery performs no moves yet, so each is taken as far as Nova's
 * request validation and the checks its API makes before anything is scheduled, and then answered
 * as Nova answers when no destination can take the server. Nothing is written: no task state, no
 * instance action, no migration record.
 */

/** The reason given with Nova's NoValidHost: true, and what an operator needs to know. */
const NO_MOVES = 'Orrery does not move servers between hosts yet.';

/** Nova's NoValidHost as its evacuate and migrate_live controllers answer it: 400, not the 409 of a boot. */
const noValidHost = (): BadRequest => new BadRequest(`No valid host was found. ${NO_MOVES}`);

// ---- body schemas per microversion (Nova's evacuate.py and migrate_server.py schemas)

const AdminPass = Type.String();
const Evacuate21 = Type.Object({ host: Type.Optional(HostSchema), onSharedStorage: BooleanSchema, adminPass: Type.Optional(AdminPass) }, { additionalProperties: false });
const Evacuate214 = Type.Object({ host: Type.Optional(HostSchema), adminPass: Type.Optional(AdminPass) }, { additionalProperties: false });
const Evacuate229 = Type.Object({ host: Type.Optional(HostSchema), adminPass: Type.Optional(AdminPass), force: Type.Optional(BooleanSchema) }, { additionalProperties: false });

const HostOrNull = Type.Union([HostSchema, Type.Null()]);
const MigrateLive21 = Type.Object({ block_migration: BooleanSchema, disk_over_commit: BooleanSchema, host: HostOrNull }, { additionalProperties: false });
const BlockMigration225 = Type.Union([BooleanSchema, Type.Literal('auto')]);
const MigrateLive225 = Type.Object({ block_migration: BlockMigration225, host: HostOrNull }, { additionalProperties: false });
const MigrateLive230 = Type.Object({ block_migration: BlockMigration225, host: HostOrNull, force: Type.Optional(BooleanSchema) }, { additionalProperties: false });

/** The schema of the request's microversion: 2.68 drops `force` again (forced moves removed). */
function evacuateSchema(req: FastifyRequest): TSchema {
  if (mvAtLeast(req, '2.68')) return Evacuate214;
  if (mvAtLeast(req, '2.29')) return Evacuate229;
  if (mvAtLeast(req, '2.14')) return Evacuate214;
  return Evacuate21;
}

function migrateLiveSchema(req: FastifyRequest): TSchema {
  if (mvAtLeast(req, '2.68')) return MigrateLive225;
  if (mvAtLeast(req, '2.30')) return MigrateLive230;
  if (mvAtLeast(req, '2.25')) return MigrateLive225;
  return MigrateLive21;
}

async function evacuate(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<never> {
  const body = checkBody(evacuateSchema(req), raw) as { host?: string };
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
  // The source is down and Nova would now ask the scheduler for a destination. Nova reports a
  // failed evacuation only afterwards (the instance action's fault); with nothing to run the
  // move there is no "afterwards", so the scheduler's answer — NoValidHost, 400 where Nova's API
  // surfaces it — is given now, and the server stays as it is rather than being accepted and
  // left unmoved.
  throw noValidHost();
}

async function migrateLive(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<never> {
  const body = checkBody(migrateLiveSchema(req), raw) as { host: string | null };
  // compute API live_migrate: @check_instance_lock, @check_instance_state (the catalogue's).
  await checkActionAllowed(deps.db, req, row, 'os-migrateLive');
  // Nova's controller turns these into 400s: ComputeHostNotFound, UnableToMigrateToSelf, NoValidHost.
  if (body.host !== null) {
    if (!(await computeServiceOf(deps.db, body.host))) throw new BadRequest(`Compute host ${body.host} could not be found.`);
    if (body.host === row.host) throw new BadRequest(`Unable to migrate instance (${row.uuid}) to current host (${row.host}).`);
  }
  // No host can take the server (nothing moves it there): Nova's NoValidHost, 400 as its
  // migrate_live answers it (synchronously below 2.34; from 2.34 Nova reports it later in the
  // instance action, which Orrery cannot since no move starts — refusing is the honest answer).
  throw noValidHost();
}

export const MOVE_ACTIONS = {
  evacuate: { handler: (deps, req, _reply, row, body) => evacuate(deps, req, row, body), body: Type.Union([Evacuate21, Evacuate229]) },
  'os-migrateLive': { handler: (deps, req, _reply, row, body) => migrateLive(deps, req, row, body), body: Type.Union([MigrateLive21, MigrateLive230]) },
} satisfies SomeActionHandlers;
