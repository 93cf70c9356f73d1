import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import type { Config } from '../common/config.js';
import { BadRequest } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { getExtraSpecs, getFlavorRow, projectCanUseFlavor, rowToFlavor } from '../db/flavors.js';
import { createAction } from '../db/instance-actions.js';
import type { InstanceRow, InstanceRowUpdates } from '../db/instances.js';
import { lockKey } from '../db/locks.js';
import { getMigration, updateMigration } from '../db/move-records.js';
import { quotaLockName, TooManyInstances } from '../db/quota-check.js';
import { getInstanceUsage, getProjectLimits, getUserOverrides, UNLIMITED } from '../db/quotas.js';
import { computeServiceOf } from '../db/services.js';
import { createFlow, liveFlowOf, resumeWaitingFlow, type FlowRow, type NewMigration } from '../db/task-flows.js';
import { atomically } from '../db/transactions.js';
import { SERVER_ACTIONS } from '../objects/actions.js';
import type { Flavor } from '../objects/compute.js';
import { rpcContextOf } from '../httpkit/app.js';
import { authorize } from '../httpkit/authorize.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { HostSchema, toBool } from './resource-kit.js';
import { BoolSchema as BooleanSchema, DiskConfigSchema, diskConfigColumn } from './server-schemas.js';
import { checkActionAllowed, checkBody, transitionTaskState } from './server-common.js';
import type { SomeActionHandlers } from './server-actions.js';

/**
 * The moves of a server: resize, confirmResize, revertResize, migrate (cold) and os-migrateLive.
 * Each is checked as Nova's API checks it, then started as a task flow the conductor drives: in
 * one transaction the task state (from no task, so a concurrent action loses with Nova's 409),
 * the instance action, the flow and its migration record; then the conductor is told (run_flow,
 * a cast: were it lost, a conductor's poll takes the unowned flow up). A resize that finished
 * waits in its flow at 'verify' until confirmed or reverted.
 */

// ---- body schemas per microversion (Nova's servers.py and migrate_server.py schemas)

const FlavorRef = Type.Union([Type.String({ minLength: 1 }), Type.Integer()]);
const ResizeBody = Type.Object({ flavorRef: FlavorRef, 'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema) }, { additionalProperties: false });

const HostOrNull = Type.Union([HostSchema, Type.Null()]);
/** 2.56: a target host (null: the scheduler's choice), or no object at all (null). */
const Migrate256Object = Type.Object({ host: Type.Optional(HostOrNull) }, { additionalProperties: false });
const Migrate256 = Type.Union([Migrate256Object, Type.Null()]);

const MigrateLive21 = Type.Object({ block_migration: BooleanSchema, disk_over_commit: BooleanSchema, host: HostOrNull }, { additionalProperties: false });
const BlockMigration225 = Type.Union([BooleanSchema, Type.Literal('auto')]);
const MigrateLive225 = Type.Object({ block_migration: BlockMigration225, host: HostOrNull }, { additionalProperties: false });
const MigrateLive230 = Type.Object({ block_migration: BlockMigration225, host: HostOrNull, force: Type.Optional(BooleanSchema) }, { additionalProperties: false });

/** The schema of the request's microversion: 2.68 drops `force` again (forced moves removed). */
function migrateLiveSchema(req: FastifyRequest): TSchema {
  if (mvAtLeast(req, '2.68')) return MigrateLive225;
  if (mvAtLeast(req, '2.30')) return MigrateLive230;
  if (mvAtLeast(req, '2.25')) return MigrateLive225;
  return MigrateLive21;
}

// ---- quota: a resize up (or a revert of a resize down) needs headroom for the difference

type Deltas = { cores: number; ram: number };

/** Nova's upsize_quota_delta: what `to` needs more than `from` (nothing for what it needs less). */
function upsizeDeltas(from: Flavor, to: Flavor): Deltas {
  return { cores: Math.max(0, to.vcpus - from.vcpus), ram: Math.max(0, to.memoryMb - from.memoryMb) };
}

/** Nova's check_deltas for cores and ram, project then user limits; run under the project's quota lock. */
async function checkUpsizeQuota(tx: Db, config: Config, projectId: string, userId: string, d: Deltas): Promise<void> {
  if (d.cores === 0 && d.ram === 0) return;
  await lockKey(tx, quotaLockName(projectId));
  const project = await getProjectLimits(tx, config, projectId);
  const own = await getUserOverrides(tx, projectId, userId);
  const checks: Array<[Record<string, number>, { cores: number; ram: number }]> = [[project, await getInstanceUsage(tx, projectId)]];
  if (Object.hasOwn(own, 'cores') || Object.hasOwn(own, 'ram')) checks.push([{ ...project, ...own }, await getInstanceUsage(tx, projectId, userId)]);
  for (const [limits, usage] of checks) {
    const limitOf = (r: 'cores' | 'ram'): number => limits[r] ?? UNLIMITED;
    const overs = (['cores', 'ram'] as const).filter((r) => d[r] > 0 && limitOf(r) >= 0 && usage[r] + d[r] > limitOf(r));
    if (overs.length > 0) {
      throw new TooManyInstances(overs.join(', '), overs.map((r) => String(d[r])).join(', '),
        overs.map((r) => String(usage[r])).join(', '), overs.map((r) => String(limitOf(r))).join(', '));
    }
  }
}

// ---- starting a flow

interface MoveStart {
  key: 'resize' | 'migrate' | 'os-migrateLive';
  kind: string;
  step: string;
  payload: Record<string, unknown>;
  migration: NewMigration;
  /** Columns set with the task state (a resize's disk config). */
  updates?: InstanceRowUpdates;
  quota?: Deltas;
}

/** The migration record of a move from the server's current place. */
function migrationFrom(req: FastifyRequest, row: InstanceRow, type: string, status: string, newFlavor: string, destCompute: string | null = null): NewMigration {
  return {
    migration_type: type, status, source_compute: row.host, source_node: row.node, source_node_uuid: row.node_uuid,
    dest_compute: destCompute, dest_node: null, dest_node_uuid: null, dest_host: null, old_flavor: row.flavor, new_flavor: newFlavor,
    user_id: req.auth.userId, project_id: req.auth.projectId,
  };
}

/** Tells the conductor to drive a flow now; a failure only delays it (its poll takes unowned flows up). */
async function runFlow(deps: ComputeApiDeps, req: FastifyRequest, flowUuid: string): Promise<void> {
  try {
    await deps.conductor.runFlow(rpcContextOf(req), flowUuid);
  } catch (err) {
    req.log.warn({ err, flow: flowUuid }, 'run_flow not sent; a conductor will take the flow up on its poll');
  }
}

async function startMove(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, m: MoveStart): Promise<void> {
  const a = SERVER_ACTIONS[m.key];
  const flow = await atomically(deps.db, async (tx) => {
    if (m.quota) await checkUpsizeQuota(tx, deps.config, row.project_id, row.user_id, m.quota);
    await transitionTaskState(tx, row, a.name, { ...m.updates, task_state: a.taskState }, [null]);
    await createAction(tx, { instanceUuid: row.uuid, action: a.record, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
    return createFlow(tx, {
      kind: m.kind, instanceUuid: row.uuid, step: m.step, payload: m.payload, requestId: req.requestId,
      userId: req.auth.userId, projectId: req.auth.projectId, migration: m.migration,
    });
  });
  await runFlow(deps, req, flow.flowUuid);
}

// ---- resize, confirm, revert

/** Nova's common.get_id_from_href: a flavor may be named by its URL. */
const idFromHref = (ref: string): string => ref.replace(/\/+$/, '').split('/').pop() ?? ref;

const diskUnresizable = (reason: string): BadRequest => new BadRequest(`Server disk was unable to be resized because: ${reason}`);

async function resize(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(ResizeBody, raw);
  await checkActionAllowed(deps.db, req, row, 'resize');
  const flavorid = idFromHref(String(body.flavorRef));
  const frow = await getFlavorRow(deps.db, flavorid);
  if (!frow || frow.disabled === 1 || (!req.auth.isAdmin && !(await projectCanUseFlavor(deps.db, frow, req.auth.projectId)))) {
    throw new BadRequest('Unable to locate requested flavor.');
  }
  const current = JSON.parse(row.flavor) as Flavor;
  if (frow.flavorid === current.flavorid) throw new BadRequest('Resize requires a flavor change.');
  const target = rowToFlavor(frow, await getExtraSpecs(deps.db, flavorid));
  if (target.rootGb === 0 && current.rootGb !== 0) throw diskUnresizable('Resize to zero disk flavor is not allowed.');
  // Nova leaves this to the driver, which fails the move later; no driver can shrink a root disk, so it is refused now.
  if (target.rootGb < current.rootGb && target.rootGb !== 0) throw diskUnresizable('Unable to resize disk down.');
  const disk = diskConfigColumn(body['OS-DCF:diskConfig']);
  await startMove(deps, req, row, {
    key: 'resize', kind: 'resize', step: 'schedule', payload: { newFlavor: target },
    migration: migrationFrom(req, row, 'resize', 'pre-migrating', JSON.stringify(target)),
    updates: disk !== undefined ? { auto_disk_config: disk } : {}, quota: upsizeDeltas(current, target),
  });
  return undefined;
}

/** The resize (or cold migration) of the server waiting to be confirmed or reverted, or Nova's 400. */
async function waitingResize(db: Db, row: InstanceRow): Promise<FlowRow & { migrationUuid: string }> {
  const flow = await liveFlowOf(db, row.uuid);
  const migration = flow?.migrationUuid ? await getMigration(db, flow.migrationUuid) : null;
  if (!flow || flow.status !== 'waiting' || flow.step !== 'verify' || !migration || migration.status !== 'finished') {
    throw new BadRequest('Instance has not been resized.');
  }
  return { ...flow, migrationUuid: migration.uuid };
}

async function confirmResize(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow): Promise<undefined> {
  const flow = await waitingResize(deps.db, row);
  await atomically(deps.db, async (tx) => {
    // Another confirm, a revert or the auto-confirm got there first: the resize is no longer waiting.
    if (!(await resumeWaitingFlow(tx, flow.uuid, 'verify', 'confirm', req.requestId))) throw new BadRequest('Instance has not been resized.');
    await updateMigration(tx, flow.migrationUuid, { status: 'confirming' });
    await createAction(tx, { instanceUuid: row.uuid, action: SERVER_ACTIONS.confirmResize.record, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
  });
  await runFlow(deps, req, flow.uuid);
  reply.code(204);
  return undefined;
}

async function revertResize(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  const flow = await waitingResize(deps.db, row);
  const migration = await getMigration(deps.db, flow.migrationUuid);
  const old = migration?.old_flavor ? (JSON.parse(migration.old_flavor) as Flavor) : null;
  if (!old) throw new BadRequest('Flavor used by the instance could not be found.');
  const a = SERVER_ACTIONS.revertResize;
  await atomically(deps.db, async (tx) => {
    // Back to the old flavor: a resize down reverted grows again (Nova's is_revert quota check).
    await checkUpsizeQuota(tx, deps.config, row.project_id, row.user_id, upsizeDeltas(JSON.parse(row.flavor) as Flavor, old));
    await transitionTaskState(tx, row, a.name, { task_state: a.taskState }, [null]);
    if (!(await resumeWaitingFlow(tx, flow.uuid, 'verify', 'revert', req.requestId))) throw new BadRequest('Instance has not been resized.');
    await updateMigration(tx, flow.migrationUuid, { status: 'reverting' });
    await createAction(tx, { instanceUuid: row.uuid, action: a.record, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
  });
  await runFlow(deps, req, flow.uuid);
  return undefined;
}

// ---- cold and live migration

async function migrate(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  // Below 2.56 Nova reads nothing of the body.
  // The object's schema on its own, so that a wrong field is named (not "a union value").
  const body = mvAtLeast(req, '2.56') && raw !== null ? checkBody(Migrate256Object, raw) : null;
  const host = body?.host ?? null;
  if (host !== null) authorize(req, 'os_compute_api:os-migrate-server:migrate:host', { project_id: row.project_id, user_id: row.user_id });
  await checkActionAllowed(deps.db, req, row, 'migrate');
  if (host !== null) {
    if (host === row.host) throw new BadRequest('Cannot migrate to the host where the server exists.');
    if (!(await computeServiceOf(deps.db, host))) throw new BadRequest(`Compute host ${host} could not be found.`);
  }
  await startMove(deps, req, row, {
    key: 'migrate', kind: 'migration', step: 'schedule', payload: { host },
    migration: migrationFrom(req, row, 'migration', 'pre-migrating', row.flavor),
  });
  return undefined;
}

async function migrateLive(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(migrateLiveSchema(req), raw) as { host: string | null; block_migration: boolean | string; force?: boolean | string };
  // 2.30–2.67: a forced move skips the scheduler, so it needs a host to be forced to.
  const force = mvAtLeast(req, '2.30') && body.force !== undefined ? toBool(body.force) : false;
  if (force && !body.host) throw new BadRequest("Can't force to a non-provided destination");
  const blockMigration: boolean | 'auto' = mvAtLeast(req, '2.25') && body.block_migration === 'auto' ? 'auto' : toBool(body.block_migration);
  // compute API live_migrate: @check_instance_lock, @check_instance_state (the catalogue's).
  await checkActionAllowed(deps.db, req, row, 'os-migrateLive');
  // Nova's controller turns these into 400s: ComputeHostNotFound, UnableToMigrateToSelf.
  if (body.host !== null) {
    if (!(await computeServiceOf(deps.db, body.host))) throw new BadRequest(`Compute host ${body.host} could not be found.`);
    if (body.host === row.host) throw new BadRequest(`Unable to migrate instance (${row.uuid}) to current host (${row.host}).`);
  }
  await startMove(deps, req, row, {
    key: 'os-migrateLive', kind: 'live-migration', step: 'schedule',
    payload: { host: body.host, blockMigration, ...(force ? { force: true } : {}) },
    migration: migrationFrom(req, row, 'live-migration', 'accepted', row.flavor, body.host),
  });
  return undefined;
}

export const MOVE_ACTIONS = {
  resize: { handler: (deps, req, _reply, row, body) => resize(deps, req, row, body), body: ResizeBody },
  confirmResize: { handler: (deps, req, reply, row) => confirmResize(deps, req, reply, row), body: null },
  revertResize: { handler: (deps, req, _reply, row) => revertResize(deps, req, row), body: null },
  migrate: { handler: (deps, req, _reply, row, body) => migrate(deps, req, row, body), body: Migrate256 },
  'os-migrateLive': { handler: (deps, req, _reply, row, body) => migrateLive(deps, req, row, body), body: Type.Union([MigrateLive21, MigrateLive230]) },
} satisfies SomeActionHandlers;
