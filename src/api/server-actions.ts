import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, Forbidden, OverQuota } from '../common/errors.js';
import { createAction, finishEvent, startEvent } from '../db/instance-actions.js';
import { updateInstanceRow, type InstanceRow } from '../db/instances.js';
import { lockKey } from '../db/locks.js';
import { checkMetadataQuota } from '../db/quota-check.js';
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
  bootImage, checkBody, generatePassword, checkInstanceHost, checkInstanceLock, checkInstanceState, findServer, instanceOf,
  transitionTaskState, unexpectedProperty,
} from './server-common.js';
import {
  AccessIPv4Schema, AccessIPv6Schema, BoolSchema, DescriptionSchema, DiskConfigSchema, MetadataSchema, NameSchema,
} from './server-schemas.js';
import { serverLinks, showServer } from './server-view.js';

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

const RebuildBody = Type.Object({
  imageRef: Type.String({ format: 'uuid' }),
  name: Type.Optional(NameSchema),
  adminPass: Type.Optional(Type.String()),
  metadata: Type.Optional(MetadataSchema),
  preserve_ephemeral: Type.Optional(BoolSchema),
  'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema),
  accessIPv4: Type.Optional(AccessIPv4Schema),
  accessIPv6: Type.Optional(AccessIPv6Schema),
  description: Type.Optional(DescriptionSchema),
}, { additionalProperties: false });

const CreateImageBody = Type.Object({
  name: NameSchema,
  metadata: Type.Optional(MetadataSchema),
}, { additionalProperties: false });

const ConsoleOutputBody = Type.Object({
  length: Type.Optional(Type.Union([Type.Integer({ minimum: -1 }), Type.String({ pattern: '^-?[0-9]+$' }), Type.Null()])),
}, { additionalProperties: false });

type Handler = (deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, body: unknown) => Promise<unknown>;

/**
 * An action: what runs it, the JSON schema of its value in the body (null when it takes none),
 * and Nova's policy rule, checked on the server once it is found (its project and user the target).
 */
interface ActionEntry { handler: Handler; body: TSchema | null; policy: string }

/** Action names come from the request: a Map, so that `constructor` is no action, as `foo` is none. */
const ACTIONS = new Map<string, ActionEntry>([
  ...Object.entries(SIMPLE_ACTIONS).map(([key, a]): [string, ActionEntry] => [key, { handler: (deps, req, _reply, row) => simpleAction(deps, req, row, a), body: null, policy: a.policy }]),
  ['reboot', { handler: (deps, req, _reply, row, body) => reboot(deps, req, row, body), body: RebootBody, policy: 'os_compute_api:servers:reboot' }],
  ['rebuild', { handler: (deps, req, reply, row, body) => rebuild(deps, req, reply, row, body), body: RebuildBody, policy: 'os_compute_api:servers:rebuild' }],
  ['createImage', { handler: (deps, req, reply, row, body) => createImage(deps, req, reply, row, body), body: CreateImageBody, policy: 'os_compute_api:servers:create_image' }],
  ['os-getConsoleOutput', { handler: (deps, req, _reply, row, body) => consoleOutput(deps, req, row, body), body: ConsoleOutputBody, policy: 'os_compute_api:os-console-output' }],
  ['lock', { handler: (deps, req, _reply, row) => lock(deps, req, row), body: null, policy: 'os_compute_api:os-lock-server:lock' }],
  ['unlock', { handler: (deps, req, _reply, row) => unlock(deps, req, row), body: null, policy: 'os_compute_api:os-lock-server:unlock' }],
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
    if (!entry) throw new BadRequest(`There is no such action: ${action}`);
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

async function rebuild(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, raw: unknown): Promise<unknown> {
  const body = checkBody(RebuildBody, raw);
  if (body.description !== undefined && !mvAtLeast(req, '2.19')) throw unexpectedProperty('rebuild', 'description');
  checkInstanceLock(req, row);
  checkInstanceState(row, 'rebuild', [V.ACTIVE, V.STOPPED, V.ERROR]);
  checkInstanceHost(row);
  await requireCapability(deps.db, row.node_uuid, 'rebuild', 'async');
  const flavor = JSON.parse(row.flavor) as Flavor;
  const image = await bootImage(deps.images, req, body.imageRef, flavor);
  if (body.metadata) await checkMetadataQuota(deps.db, deps.config, row.project_id, Object.keys(body.metadata).length);

  const after = await transitionTaskState(deps.db, row, 'rebuild', {
    task_state: T.REBUILDING,
    image_ref: image.id,
    image_meta: JSON.stringify(image),
    progress: 0,
    ...(body.name !== undefined ? { display_name: body.name } : {}),
    ...(body.description !== undefined ? { display_description: body.description } : {}),
    ...(body.accessIPv4 !== undefined ? { access_ip_v4: body.accessIPv4 } : {}),
    ...(body.accessIPv6 !== undefined ? { access_ip_v6: body.accessIPv6 } : {}),
  }, [null]);
  if (body.metadata) {
    const metadata = body.metadata;
    await deps.db.transaction().execute(async (tx) => {
      await lockKey(tx, `instance:${row.uuid}`); // as every metadata change (server-metadata.ts)
      await tx.deleteFrom('instance_metadata').where('instance_uuid', '=', row.uuid).execute();
      const entries = Object.entries(metadata);
      if (entries.length > 0) {
        await tx.insertInto('instance_metadata').values(entries.map(([key, value]) => ({ instance_uuid: row.uuid, key, value }))).execute();
      }
    });
  }
  await recordAction(deps, req, after, 'rebuild');
  await deps.compute.rebuildInstance(rpcContextOf(req), await instanceOf(deps.db, after), image);

  const view = await showServer(deps.db, req, deps.config, after, { reduced: true });
  view.adminPass = body.adminPass ?? generatePassword();
  reply.code(202).header('location', serverLinks(req, row.uuid)[0]!.href);
  return { server: view };
}

/** Image properties a snapshot does not inherit from its base image (Nova's non_inheritable_image_properties). */
const NON_INHERITABLE = new Set(['cache_in_nova', 'bittorrent', 'img_signature_hash_method', 'img_signature', 'img_signature_key_type', 'img_signature_certificate_uuid']);

async function createImage(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(CreateImageBody, raw);
  // Nova does not check the lock: a snapshot changes nothing of the instance.
  checkInstanceState(row, 'createImage', [V.ACTIVE, V.STOPPED, V.PAUSED, V.SUSPENDED]);
  checkInstanceHost(row);
  await requireCapability(deps.db, row.node_uuid, 'createImage', 'async');
  const metadata = body.metadata ?? {};
  if (Object.keys(metadata).length > 0) {
    const limit = (await getProjectLimits(deps.db, deps.config, row.project_id)).metadata_items ?? -1;
    if (limit >= 0 && Object.keys(metadata).length > limit) throw new OverQuota('Image metadata limit exceeded');
  }

  const base = JSON.parse(row.image_meta) as ImageMeta;
  const flavor = JSON.parse(row.flavor) as Flavor;
  const after = await transitionTaskState(deps.db, row, 'createImage', { task_state: T.IMAGE_SNAPSHOT }, [null]);
  let image: Record<string, unknown>;
  try {
    const inherited = Object.fromEntries(Object.entries(base.properties).filter(([k]) => !NON_INHERITABLE.has(k)));
    image = (await deps.images.createImage({
      ...inherited,
      ...metadata,
      name: body.name,
      container_format: base.containerFormat || 'bare',
      disk_format: base.diskFormat || 'raw',
      visibility: 'private',
      min_ram: base.minRam,
      min_disk: Math.max(base.minDisk, flavor.rootGb),
      instance_uuid: row.uuid,
      user_id: req.auth.userId,
      image_type: 'snapshot',
      base_image_ref: row.image_ref,
    }, req.auth.tokenId)) as Record<string, unknown>;
  } catch (err) {
    // Nothing half-done: give the instance back its task state.
    await updateInstanceRow(deps.db, row.uuid, { task_state: null }, [T.IMAGE_SNAPSHOT])
      .catch((e: unknown) => req.log.warn({ err: e, instance: row.uuid }, 'could not clear image_snapshot after a failed image create'));
    throw err;
  }
  const imageId = String(image.id);
  await recordAction(deps, req, after, 'createImage');
  await deps.compute.snapshotInstance(rpcContextOf(req), await instanceOf(deps.db, after), imageId, base.diskFormat || 'raw');
  reply.code(202).header('location', imageUrl(deps, req, imageId));
  return undefined;
}

/**
 * Where the snapshot is (Nova's glance.generate_image_url: <image endpoint>/images/<id>): the
 * image API on this host's [api] image_port. Clients read the id from its last segment.
 */
function imageUrl(deps: ComputeApiDeps, req: FastifyRequest, imageId: string): string {
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

async function lock(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  const isOwner = row.project_id === req.auth.projectId;
  if (row.locked === 1 && isOwner) return undefined;
  await recordApiAction(deps, req, row, 'lock', () => updateInstanceRow(deps.db, row.uuid, { locked: 1, locked_by: isOwner ? 'owner' : 'admin' }));
  return undefined;
}

async function unlock(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow): Promise<undefined> {
  const expected = row.project_id === req.auth.projectId ? 'owner' : 'admin';
  if (row.locked_by && row.locked_by !== expected) {
    authorize(req, 'os_compute_api:os-lock-server:unlock:unlock_override', { project_id: row.project_id, user_id: row.user_id });
  }
  await recordApiAction(deps, req, row, 'unlock', () => updateInstanceRow(deps.db, row.uuid, { locked: 0, locked_by: null }));
  return undefined;
}
