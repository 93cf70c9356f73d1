import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { BadRequest, NotFound, OverQuota } from '../common/errors.js';
import { createAction, finishEvent, startEvent } from '../db/instance-actions.js';
import { updateInstanceRow, type InstanceRow } from '../db/instances.js';
import { getProjectLimits } from '../db/quotas.js';
import {
  isServerAction, SERVER_ACTIONS, serverAction, serverActions, statesOf, type CarriedBy, type ServerActionKey,
} from '../objects/actions.js';
import type { Flavor, ImageMeta } from '../objects/compute.js';
import { requestBaseUrl, rpcContextOf } from '../httpkit/app.js';
import { authorize } from '../httpkit/authorize.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { checkActionAllowed, checkBody, findServer, instanceOf, transitionTaskState } from './server-common.js';
import { MetadataSchema, NameSchema } from './server-schemas.js';
import { NETWORK_ACTIONS } from './server-network-actions.js';
import { rebuild, RebuildBody } from './server-rebuild.js';
import { ADMIN_ACTIONS } from './admin-actions.js';
import { BACKUP_ACTIONS } from './server-backup.js';
import { MOVE_ACTIONS } from './server-moves.js';
import { EVACUATE_ACTIONS } from './server-evacuate.js';
import { SHELVE_ACTIONS } from './server-shelve.js';
import { CONSOLE_ACTIONS } from './remote-consoles.js';

/**
 * POST /servers/{id}/action: one action per request. What each action is — its policy rule,
 * microversion, the states it is allowed from, the task state it sets, what it records and the
 * RPC that carries it — is the action catalogue's (src/objects/actions.ts); what runs it, and
 * the JSON schema of its value in the body, is the handler table below, keyed by the catalogue.
 */

export type Handler = (deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, body: unknown) => Promise<unknown>;

/** What runs an action, and the JSON schema of its value in the body (null when it takes none). */
export interface ActionHandler { handler: Handler; body: TSchema | null }

/** Handlers of some catalogue entries (each file's share of the table); a key the catalogue lacks is a compile error. */
export type SomeActionHandlers = { readonly [K in ServerActionKey]?: ActionHandler };

/** One handler per catalogue entry: an entry without a handler is a compile error. */
type ActionHandlers = { readonly [K in ServerActionKey]: ActionHandler };

/** The actions that only flip a task state and cast the compute RPC the catalogue names, once the router has checked them. */
type SimpleKey = { [K in ServerActionKey]: (typeof SERVER_ACTIONS)[K] extends { checkedBy: 'router'; rpc: CarriedBy<'instanceAction'> } ? K : never }[ServerActionKey];

function simpleAction(key: SimpleKey): ActionHandler {
  const a = SERVER_ACTIONS[key];
  return {
    body: null,
    handler: async (deps, req, _reply, row) => {
      const after = await transitionTaskState(deps.db, row, a.name, { task_state: a.taskState }, [...a.taskStates]);
      await recordAction(deps, req, after, a.record);
      await deps.compute.instanceAction(rpcContextOf(req), a.rpc, await instanceOf(deps.db, after));
      return undefined;
    },
  };
}

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

const HANDLERS: ActionHandlers = {
  'os-stop': simpleAction('os-stop'),
  'os-start': simpleAction('os-start'),
  pause: simpleAction('pause'),
  unpause: simpleAction('unpause'),
  suspend: simpleAction('suspend'),
  resume: simpleAction('resume'),
  reboot: { handler: (deps, req, _reply, row, body) => reboot(deps, req, row, body), body: RebootBody },
  rebuild: { handler: (deps, req, reply, row, body) => rebuild(deps, req, reply, row, body), body: RebuildBody },
  createImage: { handler: (deps, req, reply, row, body) => createImage(deps, req, reply, row, body), body: CreateImageBody },
  'os-getConsoleOutput': { handler: (deps, req, _reply, row, body) => consoleOutput(deps, req, row, body), body: ConsoleOutputBody },
  lock: { handler: (deps, req, _reply, row, body) => lock(deps, req, row, body), body: Type.Union([LockBody, Type.Null()]) },
  unlock: { handler: (deps, req, _reply, row) => unlock(deps, req, row), body: null },
  ...ADMIN_ACTIONS,
  ...NETWORK_ACTIONS,
  ...BACKUP_ACTIONS,
  ...MOVE_ACTIONS,
  ...EVACUATE_ACTIONS,
  ...SHELVE_ACTIONS,
  ...CONSOLE_ACTIONS,
};

/** Each action's whole body, as a JSON schema, in the catalogue's order: the route table carries them for generated tests. */
const BODY_VARIANTS = serverActions().map(([key]) => ({
  type: 'object', properties: { [key]: HANDLERS[key].body ?? { type: 'null' } }, required: [key], additionalProperties: false,
}));

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<{ Params: { server_id: string }; Body: unknown }>(app, 'POST', '/servers/:server_id/action', {
    schema: { body: Type.Object({}, { additionalProperties: true }) }, bodyVariants: BODY_VARIANTS,
    actionPolicies: [...new Set(serverActions().map(([, a]) => a.policy))],
  }, async (req, reply) => {
    const body = req.body as Record<string, unknown>;
    const keys = Object.keys(body);
    if (keys.length !== 1) throw new BadRequest('Malformed request body: too many body keys');
    const action = keys[0]!;
    if (!isServerAction(action)) throw new BadRequest(`There is no such action: ${action}`);
    const entry = serverAction(action);
    if (entry.since !== null && !mvAtLeast(req, entry.since)) throw new BadRequest(`There is no such action: ${action}`);
    const row = await findServer(deps.db, req, req.params.server_id);
    authorize(req, entry.policy, { project_id: row.project_id, user_id: row.user_id });
    // Removed from the API: a resource that no longer exists.
    if (entry.removedAt !== null && mvAtLeast(req, entry.removedAt)) throw new NotFound('The resource could not be found.');
    if (entry.checkedBy === 'router') await checkActionAllowed(deps.db, req, row, action);
    const result = await HANDLERS[action].handler(deps, req, reply, row, body[action]);
    if (reply.statusCode === 200 && result === undefined) reply.code(202);
    return result;
  });
}

/** Records the action (its catalogue record name), then casts: what every action that reaches a node ends with. */
async function recordAction(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, action: string): Promise<void> {
  await createAction(deps.db, { instanceUuid: row.uuid, action, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
}

async function reboot(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, raw: unknown): Promise<undefined> {
  const body = checkBody(RebootBody, raw);
  const hard = body.type.toUpperCase() === 'HARD';
  const variant = hard ? 'HARD' : undefined;
  await checkActionAllowed(deps.db, req, row, 'reboot', variant);
  const states = statesOf('reboot', variant);
  const a = SERVER_ACTIONS.reboot;
  const after = await transitionTaskState(deps.db, row, a.name, { task_state: states.taskState }, [...(states.taskStates ?? [null])]);
  await recordAction(deps, req, after, a.record);
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
  deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, key: 'createImage' | 'createBackup', name: string, metadata: Record<string, string>,
  extra: Record<string, unknown>,
): Promise<string> {
  const a = SERVER_ACTIONS[key];
  await checkActionAllowed(deps.db, req, row, key);
  if (Object.keys(metadata).length > 0) {
    const limit = (await getProjectLimits(deps.db, deps.config, row.project_id)).metadata_items ?? -1;
    if (limit >= 0 && Object.keys(metadata).length > limit) throw new OverQuota('Image metadata limit exceeded');
  }

  const base = JSON.parse(row.image_meta) as ImageMeta;
  const flavor = JSON.parse(row.flavor) as Flavor;
  const after = await transitionTaskState(deps.db, row, a.name, { task_state: a.taskState }, [...a.taskStates]);
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
    await updateInstanceRow(deps.db, row.uuid, { task_state: null }, [a.taskState])
      .catch((e: unknown) => req.log.warn({ err: e, instance: row.uuid }, 'could not clear image_snapshot after a failed image create'));
    throw err;
  }
  const imageId = String(image.id);
  await recordAction(deps, req, after, a.record);
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
  await checkActionAllowed(deps.db, req, row, 'os-getConsoleOutput');
  const output = await deps.compute.getConsoleOutput(rpcContextOf(req), await instanceOf(deps.db, row), length);
  // Nova strips control characters XML could not carry, and still does for compatibility.
  return { output: String(output ?? '').replace(/[\x00-\x08\x0B-\x1F]/g, '') };
}

/** Lock and unlock are recorded with the catalogue's api_<action> event, as Nova's @wrap_instance_event(prefix='api'). */
async function recordApiAction(
  deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, key: 'lock' | 'unlock', change: () => Promise<void>,
): Promise<void> {
  const a = SERVER_ACTIONS[key];
  await recordAction(deps, req, row, a.record);
  await startEvent(deps.db, row.uuid, req.requestId, a.apiEvent, null);
  await change();
  await finishEvent(deps.db, row.uuid, req.requestId, a.apiEvent, 'Success', null, null);
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
