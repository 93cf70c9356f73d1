import { randomInt } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import type { Static, TSchema } from '@sinclair/typebox';
import { TypeCompiler, type TypeCheck } from '@sinclair/typebox/compiler';
import type { ImageClient } from '../clients/image-client.js';
import { BadRequest, Conflict, NotFound, OrreryError } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import { getInstanceRow, metadataFor, rowToInstance, updateInstanceRow, type InstanceRow, type InstanceRowUpdates } from '../db/instances.js';
import { serverAction, statesOf, type ServerActionKey } from '../objects/actions.js';
import type { Flavor, ImageMeta, Instance } from '../objects/compute.js';
import { authorize } from '../httpkit/authorize.js';
import { requireCapability } from './capability-check.js';

/** What the server routes share: finding the caller's server and Nova's state and lock checks. */

export function instanceNotFound(id: string): NotFound {
  return new NotFound(`Instance ${id} could not be found.`);
}

/**
 * The server `id` as the caller may see it: members only their project's, admins any. Anything
 * else — unknown, malformed, another project's, deleted (unless asked for) — is 404.
 */
export async function findServer(db: Db, req: FastifyRequest, id: string, opts: { includeDeleted?: boolean } = {}): Promise<InstanceRow> {
  if (!isUuidLike(id)) throw instanceNotFound(id);
  const row = await getInstanceRow(db, id, opts);
  if (!row || (!req.auth.isAdmin && row.project_id !== req.auth.projectId)) throw instanceNotFound(id);
  // The route's rule again, on the server itself: an override such as `user_id:%(user_id)s` is
  // about the server's owner, which the check before the handler (the caller's own) cannot know.
  const rule = req.routeOptions.config.policy;
  if (rule) authorize(req, rule, { project_id: row.project_id, user_id: row.user_id });
  return row;
}

/** The Instance object of a row, with its metadata (what RPC casts carry). */
export async function instanceOf(db: Db, row: InstanceRow): Promise<Instance> {
  const md = await metadataFor(db, [row.uuid]);
  return rowToInstance(row, md.get(row.uuid) ?? {});
}

/** Nova's raise_http_conflict_for_instance_invalid_state. */
export function invalidState(action: string, uuid: string, attr: 'vm_state' | 'task_state', state: string | null): Conflict {
  return new Conflict(`Cannot '${action}' instance ${uuid} while it is in ${attr} ${state ?? 'None'}`);
}

/**
 * Nova's @check_instance_state: `vmStates` null means any; `taskStates` defaults to "no task"
 * ([null]); null means any.
 */
export function checkInstanceState(
  row: InstanceRow, action: string, vmStates: readonly string[] | null, taskStates: ReadonlyArray<string | null> | null = [null],
): void {
  if (vmStates !== null && !vmStates.includes(row.vm_state)) throw invalidState(action, row.uuid, 'vm_state', row.vm_state);
  if (taskStates !== null && !taskStates.includes(row.task_state)) throw invalidState(action, row.uuid, 'task_state', row.task_state);
}

/** Nova's @check_instance_lock: a locked instance refuses changes from anyone but an admin. */
export function checkInstanceLock(req: FastifyRequest, row: InstanceRow): void {
  if (row.locked === 1 && !req.auth.isAdmin) throw new Conflict(`Instance ${row.uuid} is locked`);
}

/** Nova's @check_instance_host: actions that reach a compute service need one. */
export function checkInstanceHost(row: InstanceRow): void {
  if (!row.host || !row.node) throw new Conflict(`Instance ${row.uuid} is not ready`);
}

/**
 * The checks the action catalogue names for action `key` (its `variant`'s states where the body
 * chose one), in Nova's order: lock, host (the power actions check it first), state, host, and
 * the driver capability. The router runs them before the handler of an action whose checks are
 * plain; the others' handlers call this after what must come first.
 */
export async function checkActionAllowed(db: Db, req: FastifyRequest, row: InstanceRow, key: ServerActionKey, variant?: string): Promise<void> {
  const a = serverAction(key);
  const states = statesOf(key, variant);
  if (a.lock) checkInstanceLock(req, row);
  if (a.host === 'first') checkInstanceHost(row);
  checkInstanceState(row, a.name, states.vmStates, states.taskStates);
  if (a.host === 'last') checkInstanceHost(row);
  if (a.capability) await requireCapability(db, row.node_uuid, a.capability);
}

/**
 * Sets the task state (and other columns) only while the task state is still one of `expected`
 * (Nova's instance.save(expected_task_state)); a concurrent change answers 409 in Nova's words.
 */
export async function transitionTaskState(
  db: Db, row: InstanceRow, action: string, updates: InstanceRowUpdates, expected: Array<string | null>,
): Promise<InstanceRow> {
  try {
    await updateInstanceRow(db, row.uuid, updates, expected);
  } catch (err) {
    if (err instanceof OrreryError && err.status === 409) {
      const now = await getInstanceRow(db, row.uuid);
      if (!now) throw instanceNotFound(row.uuid);
      throw invalidState(action, row.uuid, 'task_state', now.task_state);
    }
    throw err;
  }
  const after = await getInstanceRow(db, row.uuid);
  if (!after) throw instanceNotFound(row.uuid);
  return after;
}

// ---- images

/** Glance's own image fields; every other top-level field of an image is a property. */
const GLANCE_CORE_FIELDS = new Set([
  'id', 'name', 'status', 'disk_format', 'container_format', 'size', 'virtual_size', 'checksum', 'min_disk', 'min_ram',
  'owner', 'visibility', 'protected', 'os_hidden', 'os_hash_algo', 'os_hash_value', 'tags', 'created_at', 'updated_at',
  'self', 'file', 'schema', 'direct_url', 'locations', 'stores',
]);

/** The ImageMeta a boot or rebuild carries, from the image API's JSON. */
export function imageMetaOf(img: Record<string, unknown>): ImageMeta {
  const properties: Record<string, string> = Object.fromEntries(Object.entries(img)
    .filter(([k, v]) => !GLANCE_CORE_FIELDS.has(k) && v !== null && v !== undefined)
    .map(([k, v]) => [k, typeof v === 'string' ? v : JSON.stringify(v)]));
  const num = (v: unknown): number => (typeof v === 'number' ? v : Number(v ?? 0) || 0);
  return {
    id: String(img.id),
    name: typeof img.name === 'string' ? img.name : '',
    status: String(img.status ?? ''),
    diskFormat: typeof img.disk_format === 'string' ? img.disk_format : '',
    containerFormat: typeof img.container_format === 'string' ? img.container_format : '',
    size: num(img.size),
    checksum: typeof img.checksum === 'string' ? img.checksum : null,
    minDisk: num(img.min_disk),
    minRam: num(img.min_ram),
    properties,
  };
}

function isNotFound(err: unknown): boolean {
  return typeof err === 'object' && err !== null && ((err as { status?: unknown }).status === 404 || (err as { statusCode?: unknown }).statusCode === 404);
}

/**
 * The image a server boots (or rebuilds) from, fetched with the caller's token so that
 * Glance's visibility rules apply; Nova's 400s when it is missing, not active or too big.
 * An active image's answer is reused for a few seconds per token (IMAGE_CACHE_TTL_MS): a storm
 * of POSTs costs the image API one request.
 */
export async function bootImage(images: ImageClient, req: FastifyRequest, imageRef: string, flavor: Flavor): Promise<ImageMeta> {
  let img: Record<string, unknown> | null;
  try {
    img = (await images.getImageCached(imageRef, req.auth.tokenId)) as Record<string, unknown> | null;
  } catch (err) {
    if (isNotFound(err)) img = null;
    else throw err;
  }
  if (!img) throw new BadRequest('Can not find requested image');
  const meta = imageMetaOf(img);
  if (meta.status !== 'active') throw new BadRequest(`Image ${meta.id} is not active.`);
  checkFlavorFitsImage(flavor, meta);
  return meta;
}

const GiB = 1024 ** 3;

/** Nova's _check_requested_image: the flavor must hold the image and meet its minimums. */
export function checkFlavorFitsImage(flavor: Flavor, image: ImageMeta): void {
  if (image.minRam > flavor.memoryMb) throw new BadRequest("Flavor's memory is too small for requested image.");
  if (flavor.rootGb > 0) {
    const dest = flavor.rootGb * GiB;
    if (image.size > dest) {
      throw new BadRequest(`Flavor's disk is too small for requested image. Flavor disk is ${dest} bytes, image is ${image.size} bytes.`);
    }
    if (image.minDisk * GiB > dest) {
      throw new BadRequest(
        `Flavor's disk is smaller than the minimum size specified in image metadata. Flavor disk is ${dest} bytes, minimum size is ${image.minDisk * GiB} bytes.`,
      );
    }
  }
}

// ---- request bodies checked per microversion or per action (the route schema cannot vary)

const compiled = new WeakMap<TSchema, TypeCheck<TSchema>>();

/** Validates `value` against `schema` with Nova's 400 for the first problem. */
export function checkBody<T extends TSchema>(schema: T, value: unknown): Static<T> {
  let check = compiled.get(schema);
  if (!check) {
    check = TypeCompiler.Compile(schema);
    compiled.set(schema, check);
  }
  if (check.Check(value)) return value as Static<T>;
  const first = check.Errors(value).First();
  const where = first?.path ? `${first.path.slice(1).replaceAll('/', '.')} ` : '';
  throw new BadRequest(`Invalid input for field/attribute ${where}${first?.message ?? 'is invalid'}`.trim());
}

/** Nova's 400 for a property the request's microversion does not know. */
export function unexpectedProperty(parent: string, name: string): BadRequest {
  return new BadRequest(`Invalid input for field/attribute ${parent}. Additional properties are not allowed ('${name}' was unexpected)`);
}

/** Nova's generate_password: 12 characters from unambiguous letters and digits, each group present. */
export function generatePassword(length = 12): string {
  const groups = ['ABCDEFGHJKLMNPQRSTUVWXYZ', 'abcdefghijkmnopqrstuvwxyz', '23456789'];
  const chars = groups.map((g) => g[randomInt(g.length)]!);
  const all = groups.join('');
  while (chars.length < length) chars.push(all[randomInt(all.length)]!);
  for (let i = chars.length - 1; i > 0; i--) {
    const j = randomInt(i + 1);
    [chars[i], chars[j]] = [chars[j]!, chars[i]!];
  }
  return chars.join('');
}

