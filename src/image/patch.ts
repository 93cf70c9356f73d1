import type { AuthContext } from '../auth/context.js';
import { BadRequest, Conflict, Forbidden } from '../common/errors.js';
import { withEntry } from '../common/records.js';
import type { ImageChanges, ImageRow } from '../db/images.js';
import { CONTAINER_FORMATS, DISK_FORMATS, READ_ONLY_ATTRIBUTES, RESERVED_ATTRIBUTES, VISIBILITIES } from './schemas.js';

/** One operation of an `application/openstack-images-v2.1-json-patch` body. */
export interface PatchOp {
  op: 'add' | 'replace' | 'remove';
  path: string;
  value?: unknown;
}

/** The draft-10 patch type (`{op, path, value}`) and the older draft-4 one Glance still accepts. */
export const PATCH_TYPE = 'application/openstack-images-v2.1-json-patch';
export const PATCH_TYPE_DRAFT4 = 'application/openstack-images-v2.0-json-patch';

/**
 * A draft-4 body (`[{"replace": "/name", "value": "x"}]`: the operation is the key) as draft-10
 * operations; anything else is left as it is for the schema to refuse.
 */
export function fromDraft4(body: unknown): unknown {
  if (!Array.isArray(body)) return body;
  return body.map((change: unknown) => {
    if (typeof change !== 'object' || change === null || Array.isArray(change)) return change;
    const ops = (['add', 'replace', 'remove'] as const).filter((op) => Object.hasOwn(change, op));
    if (ops.length !== 1) {
      throw new BadRequest('Unable to find `op` in JSON Schema change. It must be one of the following: add, replace, remove.');
    }
    const op = ops[0]!;
    const c = change as Record<string, unknown>;
    const out: Record<string, unknown> = { op, path: c[op] };
    if (Object.hasOwn(c, 'value')) out.value = c.value;
    return out;
  });
}

export const MAX_TAGS = 128;
export const MAX_INT = 2 ** 31 - 1;

/** The part of an image a PATCH may change. */
interface Editable {
  name: string | null;
  visibility: string;
  protected: boolean;
  os_hidden: boolean;
  min_disk: number;
  min_ram: number;
  tags: string[];
  container_format: string | null;
  disk_format: string | null;
  owner: string;
  properties: Record<string, string>;
}
type CoreKey = Exclude<keyof Editable, 'properties'>;
const CORE_KEYS: CoreKey[] = ['name', 'visibility', 'protected', 'os_hidden', 'min_disk', 'min_ram', 'tags', 'container_format', 'disk_format', 'owner'];
const isCore = (k: string): k is CoreKey => (CORE_KEYS as string[]).includes(k);

function invalid(name: string, why: string): BadRequest {
  return new BadRequest(`Invalid value for attribute '${name}': ${why}`);
}

/** Validates tags (strings of at most 255 characters) and drops duplicates, as Glance does. */
export function checkTags(value: unknown): string[] {
  if (!Array.isArray(value) || value.some((t) => typeof t !== 'string' || t.length > 255)) {
    throw invalid('tags', 'expected a list of strings of at most 255 characters');
  }
  const tags = [...new Set(value as string[])];
  if (tags.length > MAX_TAGS) throw new BadRequest(`Maximum number of tags exceeded: ${MAX_TAGS}`);
  return tags;
}

/** Validates an extra property (string key of at most 255 characters, string value). */
export function checkProperty(key: string, value: unknown): string {
  if (key.length === 0 || key.length > 255) throw new BadRequest(`Invalid property name '${key}'`);
  if (typeof value !== 'string' || value.length > 65535) throw invalid(key, 'expected a string');
  return value;
}

function checkCore(key: CoreKey, value: unknown, row: ImageRow, auth: AuthContext): Editable[CoreKey] {
  switch (key) {
    case 'name':
      if (value !== null && (typeof value !== 'string' || value.length > 255)) throw invalid(key, 'expected a string of at most 255 characters or null');
      return value;
    case 'visibility':
      if (typeof value !== 'string' || !(VISIBILITIES as readonly string[]).includes(value)) throw invalid(key, `expected one of ${VISIBILITIES.join(', ')}`);
      if (value === 'public' && !auth.isAdmin && row.visibility !== 'public') {
        throw new Forbidden('You are not authorized to complete publicize_image action.');
      }
      return value;
    case 'protected':
    case 'os_hidden':
      if (typeof value !== 'boolean') throw invalid(key, 'expected a boolean');
      return value;
    case 'min_disk':
    case 'min_ram':
      if (typeof value !== 'number' || !Number.isInteger(value) || value < 0 || value > MAX_INT) throw invalid(key, 'expected a non-negative integer');
      return value;
    case 'tags':
      return checkTags(value);
    case 'container_format':
    case 'disk_format': {
      const allowed: readonly string[] = key === 'disk_format' ? DISK_FORMATS : CONTAINER_FORMATS;
      if (value !== null && (typeof value !== 'string' || !allowed.includes(value))) throw invalid(key, `expected one of ${allowed.join(', ')}`);
      if (row.status !== 'queued') throw new Forbidden(`Attribute ${key} can be only replaced for a queued image.`);
      return value;
    }
    case 'owner':
      if (typeof value !== 'string' || value.length > 255) throw invalid(key, 'expected a string');
      if (!auth.isAdmin && value !== row.owner) throw new Forbidden('You are not authorized to change the owner of an image.');
      return value;
  }
}

/** The attribute a JSON pointer names; Glance's images have no nested attributes to patch. */
function attributeOf(path: string): string {
  const m = /^\/([^/]+)$/.exec(path);
  if (!m) throw new BadRequest(`Invalid JSON pointer for this resource: '${path}'`);
  return m[1]!.replaceAll('~1', '/').replaceAll('~0', '~');
}

/** Applies a json-patch to an image and returns the row changes to store. */
export function applyImagePatch(row: ImageRow, ops: PatchOp[], auth: AuthContext): ImageChanges {
  const state: Editable = {
    name: row.name,
    visibility: row.visibility,
    protected: row.protected === 1,
    os_hidden: row.os_hidden === 1,
    min_disk: row.min_disk,
    min_ram: row.min_ram,
    tags: JSON.parse(row.tags) as string[],
    container_format: row.container_format,
    disk_format: row.disk_format,
    owner: row.owner,
    properties: JSON.parse(row.properties) as Record<string, string>,
  };
  for (const op of ops) {
    const key = attributeOf(op.path);
    if ((READ_ONLY_ATTRIBUTES as readonly string[]).includes(key) || key === 'id') throw new Forbidden(`Attribute '${key}' is read-only.`);
    if ((RESERVED_ATTRIBUTES as readonly string[]).includes(key)) throw new Forbidden(`Attribute '${key}' is reserved.`);
    if (op.op !== 'remove' && !Object.hasOwn(op, 'value')) throw new BadRequest(`Operation '${op.op}' on '${op.path}' requires a value.`);
    if (isCore(key)) {
      if (op.op === 'remove') throw new Forbidden(`Property ${key} may not be removed.`);
      (state as unknown as Record<string, unknown>)[key] = checkCore(key, op.value, row, auth);
      continue;
    }
    const exists = Object.hasOwn(state.properties, key);
    if (op.op !== 'add' && !exists) throw new Conflict(`Property ${key} does not exist.`);
    if (op.op === 'remove') delete state.properties[key];
    else state.properties = withEntry(state.properties, key, checkProperty(key, op.value));
  }
  return {
    name: state.name,
    visibility: state.visibility,
    protected: state.protected ? 1 : 0,
    os_hidden: state.os_hidden ? 1 : 0,
    min_disk: state.min_disk,
    min_ram: state.min_ram,
    tags: JSON.stringify(state.tags),
    container_format: state.container_format,
    disk_format: state.disk_format,
    owner: state.owner,
    properties: JSON.stringify(state.properties),
  };
}
