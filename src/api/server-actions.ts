import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, Forbidden, OverQuota } from '../common/errors.js';
import { createAction, finishEvent, startEvent } from '../db/instance-actions.js';
import { updateInstanceRow, type InstanceRow } from '../db/instances.js';
import { getProjectLimits } from '../db/quotas.js';
import type { Flavor, ImageMeta } from '../objects/compute.js';
import { TaskState, VmState } from '../objects/states.js';
import type { InstanceAction } from '../rpc/compute-api.js';
import { requestBaseUrl, rpcContextOf } from '../httpkit/app.js';
import { authorize } from '../httpkit/authorize.js';
import { requireCapability, type GatedOperation } from './capability-check.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import {
  checkBody, checkInstanceHost, checkInstanceLock, checkInstanceState, findServer, instanceOf, transitionTaskState,
} from './server-common.js';
import { MetadataSchema, NameSchema } from './server-schemas.js';
import { NETWORK_ACTIONS, networkAction } from './server-network-actions.js';
import { rebuild, RebuildBody } from './server-rebuild.js';
import { ADMIN_ACTIONS } from './admin-actions.js';
import { BACKUP_ACTIONS } from './server-backup.js';
import { MOVE_ACTIONS } from './server-moves.js';

/** POST /servers/{id}/action: one action per request, with Nova's state, lock and policy checks. */

const V = VmState;
const T = TaskState;

/** The actions that only flip a task state and cast the matching compute RPC. */
interface SimpleAction {
  /** The name in Nova's messages and the instance action record. */
  name: string;
  vmStates: string[];
  /** Nova checks the host before the state for the power actions. */
  hostFirst: boolean;
  capability: GatedOperation;
  taskState: string;
  rpc: InstanceAction;
  /** Nova's policy rule of the action. */
  policy: string;
}

const SIMPLE_ACTIONS: Record<string, SimpleAction> = {
  'os-stop': { name: 'stop', vmStates: [V.ACTIVE, V.ERROR], hostFirst: true, capability: 'stop', taskState: T.POWERING_OFF, rpc: 'stop_instance', policy: 'os_compute_api:servers:stop' },
  'os-start': { name: 'start', vmStates: [V.STOPPED], hostFirst: true, capability: 'start', taskState: T.POWERING_ON, rpc: 'start_instance', policy: 'os_compute_api:servers:start' },
  pause: { name: 'pause', vmStates: [V.ACTIVE], hostFirst: false, capability: 'pause', taskState: T.PAUSING, rpc: 'pause_instance', policy: 'os_compute_api:os-pause-server:pause' },
  unpause: { name: 'unpause', vmStates: [V.PAUSED], hostFirst: false, capability: 'unpause', taskState: T.UNPAUSING, rpc: 'unpause_instance', policy: 'os_compute_api:os-pause-server:unpause' },
  suspend: { name: 'suspend', vmStates: [V.ACTIVE], hostFirst: false, capability: 'suspend', taskState: T.SUSPENDING, rpc: 'suspend_instance', policy: 'os_compute_api:os-suspend-server:suspend' },
  resume: { name: 'resume', vmStates: [V.SUSPENDED], hostFirst: false, capability: 'resume', taskState: T.RESUMING, rpc: 'resume_instance', policy: 'os_compute_api:os-suspend-server:resume' },
};

/** Nova's vm_states.ALLOW_SOFT_REBOOT / ALLOW_HARD_REBOOT and task_states.ALLOW_REBOOT. */
const ALLOW_SOFT_REBOOT = [V.ACTIVE];
const ALLOW_HARD_REBOOT = [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED, V.ERROR];
const ALLOW_REBOOT: Array<string | null> = [null, T.REBOOTING, T.REBOOT_PENDING, T.REBOOT_STARTED, T.RESUMING, T.REBOOTING_HARD, T.UNPAUSING, T.PAUSING, T.SUSPENDING];

const RebootBody = Type.Object({
  type: Type.Union(['HARD', 'Hard', 'hard', 'SOFT', 'Soft', 'soft'].map((t) => Type.Literal(t))),
}, { additionalProperties: false });

/** 2.73: a reason may come with lock. */
const LockBody = Type.Object({ locked_reason: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })) }, { additionalProperties: false });

const CreateImageBody = Type.Object({
  name: NameSchema,
  metadata: Type.Optional(MetadataSchema),
}, { additionalProperties: false });

const ConsoleOutputBody = Type.Object({
  length: Type.Optional(Type.Union([Type.Integer({ minimum: -1 }), Type.String({ pattern: '^-?[0-9]+$' }), Type.Null()])),
}, { additionalProperties: false });

export type Handler = (deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, body: unknown) => Promise<unknown>;

/**
 * An action: what runs it, the JSON schema of its value in the body (null when it takes none),
 * its Nova policy rule (checked on the server once it is found), and the microversion it appeared at.
 */
export interface ActionEntry { handler: Handler; body: TSchema | null; policy: string; since?: string }

/** Action names come from the request: a Map, so that `constructor` is no action, as `foo` is none. */
const ACTIONS = new Map<string, ActionEntry>([
  ...Object.entries(SIMPLE_ACTIONS).map(([key, a]): [string, ActionEntry] => [key, {
    handler: (deps, req, _reply, row) => simpleAction(deps, req, row, a), body: null, policy: a.policy,
  }]),
  ['reboot', { handler: (deps, req, _reply, row, body) => reboot(deps, req, row, body), body: RebootBody, policy: 'os_compute_api:servers:reboot' }],
  ['rebuild', { handler: (deps, req, reply, row, body) => rebuild(deps, req, reply, row, body), body: RebuildBody, policy: 'os_compute_api:servers:rebuild' }],
  ['createImage', {
    handler: (deps, req, reply, row, body) => createImage(deps, req, reply, row, body), body: CreateImageBody, policy: 'os_compute_api:servers:create_image',
  }],
  ['os-getConsoleOutput', {
    handler: (deps, req, _reply, row, body) => consoleOutput(deps, req, row, body), body: ConsoleOutputBody, policy: 'os_compute_api:os-console-output',
  }],
  ['lock', { handler: (deps, req, _reply, row, body) => lock(deps, req, row, body), body: Type.Union([LockBody, Type.Null()]), policy: 'os_compute_api:os-lock-server:lock' }],
  ['unlock', { handler: (deps, req, _reply, row) => unlock(deps, req, row), body: null, policy: 'os_compute_api:os-lock-server:unlock' }],
  ...ADMIN_ACTIONS,
  ...[...NETWORK_ACTIONS].map(([name, a]): [string, ActionEntry] => [name, { handler: async (_deps, req, _reply, row, body) => networkAction(req, a, row, body), body: a.body, policy: a.policy }]),
  ...BACKUP_ACTIONS,
  ...MOVE_ACTIONS,
]);

/** Each action's whole body, as a JSON schema: the route table carries them for generated tests. */
const BODY_VARIANTS = [...ACTIONS].map(([name, a]) => ({
  type: 'object', properties: { [name]: a.body ?? { type: 'null' } }, required: [name], additionalProperties: false,
}));

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<{ Params: { server_id: string }; Body: unknown }>(app, 'POST', '/servers/:server_id/action', {
    schema: { body: Type.Object({}, { additionalProperties: true }) }, bodyVariants: BODY_VARIANTS,
    actionPolicies: [...new Set([...ACTIONS.values()].map((a) => a.policy))],
  }, async (req, reply) => {
    const body = req.body as Record<string, unknown>;
    const keys = Object.keys(body);
    if (keys.length !== 1) throw new BadRequest('Malformed request body: too many body keys');
    const action = keys[0]!;
    const entry = ACTIONS.get(action);
    if (!entry || (entry.since !== undefined && !mvAtLeast(req, entry.since))) throw new BadRequest(`There is no such action: ${action}`);
    const row = await findServer(deps.db, req, req.params.server_id);
    authorize(req, entry.policy, { project_id: row.project_id, user_id: row.user_id });
    const result = await entry.handler(deps, req, reply, row, body[action]);
    if (reply.statusCode === 200 && result === undefined) reply.code(202);
    return result;
  });
}

/** Records the action, then casts: what every action that reaches a node ends with. */
async function recordAction(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, action: string): Promise<void> {
  await createAction(deps.db, { instanceUuid: row.uuid, action, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
}

async function simpleAction(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, a: SimpleAction): Promise<undefined> {
  checkInstanceLock(req, row);
  if (a.hostFirst) checkInstanceHost(row);
  checkInstanceState(row, a.name, a.vmStates);
  if (!a.hostFirst) checkInstanceHost(row);
  await requireCapability(deps.db, row.node_uuid, a.capability, 'async');
  const after = await transitionTaskState(deps.db, row, a.name, { task_state: a.taskState }, [null]);
  await recordAction(deps, req, after, a.name);
  await deps.compute.instanceAction(rpcContextOf(req), a.rpc, await instanceOf(deps.db, after));
  return undefined;
}

async function reboot(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(RebootBody, raw);
  const hard = body.type.toUpperCase() === 'HARD';
  checkInstanceLock(req, row);
  if (hard) checkInstanceState(row, 'reboot', ALLOW_HARD_REBOOT, ALLOW_REBOOT);
  else checkInstanceState(row, 'reboot', ALLOW_SOFT_REBOOT, [null]);
  checkInstanceHost(row);
  await requireCapability(deps.db, row.node_uuid, 'reboot', 'async');
  const after = await transitionTaskState(
    deps.db, row, 'reboot', { task_state: hard ? T.REBOOT_PENDING_HARD : T.REBOOT_PENDING }, hard ? ALLOW_REBOOT : [null],
  );
  await recordAction(deps, req, after, 'reboot');
  await deps.compute.rebootInstance(rpcContextOf(req), await instanceOf(deps.db, after), hard ? 'HARD' : 'SOFT');
  return undefined;
}

/** Image properties a snapshot does not inherit from its base image (Nova's non_inheritable_image_properties). */
const NON_INHERITABLE = new Set(['cache_in_nova', 'bittorrent', 'img_signature_hash_method', 'img_signature', 'img_signature_key_type', 'img_signature_certificate_uuid']);

async function createImage(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, raw: unknown): Promise<unknown> {
  const body = checkBody(CreateImageBody, raw);
  const imageId = await snapshotToImage(deps, req, row, 'createImage', body.name, body.metadata ?? {}, { image_type: 'snapshot' });
  reply.code(202);
  // 2.45: the image id in the body instead of a Location header.
  if (mvAtLeast(req, '2.45')) return { image_id: imageId };
  reply.header('location', imageUrl(deps, req, imageId));
  return undefined;
}

/**
 * Creates the image a snapshot fills (the base image's inheritable properties, `metadata` and
 * `extra` over them) and casts the snapshot to the instance's node; answers the image id.
 * createImage and createBackup (server-backup.ts) both end here.
 */
export async function snapshotToImage(
  deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, action: string, name: string, metadata: Record<string, string>,
  extra: Record<string, unknown>,
): Promise<string> {
  // Nova does not check the lock: a snapshot changes nothing of the instance.
  checkInstanceState(row, action, [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED]);
  checkInstanceHost(row);
  await requireCapability(deps.db, row.node_uuid, 'createImage', 'async');
  if (Object.keys(metadata).length > 0) {
    const limit = (await getProjectLimits(deps.db, deps.config, row.project_id)).metadata_items ?? -1;
    if (limit >= 0 && Object.keys(metadata).length > limit) throw new OverQuota('Image metadata limit exceeded');
  }

  const base = JSON.parse(row.image_meta) as ImageMeta;
  const flavor = JSON.parse(row.flavor) as Flavor;
  const after = await transitionTaskState(deps.db, row, action, { task_state: T.IMAGE_SNAPSHOT }, [null]);
  let image: Record<string, unknown>;
  try {
    const inherited = Object.fromEntries(Object.entries(base.properties).filter(([k]) => !NON_INHERITABLE.has(k)));
    image = (await deps.images.createImage({
      ...inherited,
      ...metadata,
      name,
      container_format: base.containerFormat || 'bare',
      disk_format: base.diskFormat || 'raw',
      visibility: 'private',
      min_ram: base.minRam,
      min_disk: Math.max(base.minDisk, flavor.rootGb),
      instance_uuid: row.uuid,
      user_id: req.auth.userId,
      base_image_ref: row.image_ref,
      ...extra,
    }, req.auth.tokenId)) as Record<string, unknown>;
  } catch (err) {
    // Nothing half-done: give the instance back its task state.
    await updateInstanceRow(deps.db, row.uuid, { task_state: null }, [T.IMAGE_SNAPSHOT])
      .catch((e: unknown) => req.log.warn({ err: e, instance: row.uuid }, 'could not clear image_snapshot after a failed image create'));
    throw err;
  }
  const imageId = String(image.id);
  await recordAction(deps, req, after, action);
  await deps.compute.snapshotInstance(rpcContextOf(req), await instanceOf(deps.db, after), imageId, base.diskFormat || 'raw');
  return imageId;
}

/**
 * Where the snapshot is (Nova's glance.generate_image_url: <image endpoint>/images/<id>): the
 * image API on this host's [api] image_port. Clients read the id from its last segment.
 */
export function imageUrl(deps: ComputeApiDeps, req: FastifyRequest, imageId: string): string {
  const url = new URL(requestBaseUrl(req));
  url.port = deps.config.opt('api', 'image_port') ?? '9292';
  return `${url.origin}/images/${imageId}`;
}

async function consoleOutput(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<unknown> {
  const body = checkBody(ConsoleOutputBody, raw ?? {});
  let length: number | null = null;
  if (body.length !== undefined && body.length !== null) {
    length = Number(body.length);
    if (!Number.isSafeInteger(length) || length < -1) {
      throw new BadRequest(`Invalid input for field/attribute length. Value: ${body.length}. ${body.length} is less than the minimum of -1`);
    }
    if (length === -1) length = null;
  }
  checkInstanceHost(row);
  await requireCapability(deps.db, row.node_uuid, 'getConsoleOutput', 'sync');
  const output = await deps.compute.getConsoleOutput(rpcContextOf(req), await instanceOf(deps.db, row), length);
  // Nova strips control characters XML could not carry, and still does for compatibility.
  return { output: String(output ?? '').replace(/[\x00-\x08\x0B-\x1F]/g, '') };
}

/** Lock and unlock are recorded with an api_<action> event, as Nova's @wrap_instance_event(prefix='api'). */
async function recordApiAction(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, action: string, change: () => Promise<void>): Promise<void> {
  await recordAction(deps, req, row, action);
  await startEvent(deps.db, row.uuid, req.requestId, `api_${action}`, null);
  await change();
  await finishEvent(deps.db, row.uuid, req.requestId, `api_${action}`, 'Success', null, null);
}

async function lock(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  // Below 2.73 Nova reads nothing of the body; from it, an optional reason (255 characters).
  const reason = mvAtLeast(req, '2.73') ? checkBody(Type.Union([LockBody, Type.Null()]), raw ?? null)?.locked_reason ?? null : null;
  const isOwner = row.project_id === req.auth.projectId;
  if (row.locked === 1 && isOwner) return undefined;
  await recordApiAction(deps, req, row, 'lock', () => updateInstanceRow(deps.db, row.uuid, { locked: 1, locked_by: isOwner ? 'owner' : 'admin', locked_reason: reason }));
  return undefined;
}

async function unlock(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  const expected = row.project_id === req.auth.projectId ? 'owner' : 'admin';
  if (row.locked_by && row.locked_by !== expected) {
    authorize(req, 'os_compute_api:os-lock-server:unlock:unlock_override', { project_id: row.project_id, user_id: row.user_id });
  }
  await recordApiAction(deps, req, row, 'unlock', () => updateInstanceRow(deps.db, row.uuid, { locked: 0, locked_by: null, locked_reason: null }));
  return undefined;
}
