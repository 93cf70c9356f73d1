import { BadRequest } from '../common/errors.js';
import type { Json } from './driver-info.js';

/**
 * Ironic's PATCH bodies: RFC 6902 `add`, `replace` and `remove` on the resource's JSON
 * (`/name`, `/driver_info/ipmi_address`, `/extra/rack`). Documents are rebuilt as
 * null-prototype objects, so a key from the request (`__proto__`) is only ever a key.
 */

export const MAX_PATCH_OPS = 100;
const MAX_DEPTH = 8;

export interface PatchOp { op: 'add' | 'replace' | 'remove'; path: string; value?: unknown }

/** The route schema of a patch body. */
export const PATCH_SCHEMA = {
  type: 'array', maxItems: MAX_PATCH_OPS,
  items: {
    type: 'object', required: ['op', 'path'], additionalProperties: false,
    properties: { op: { enum: ['add', 'replace', 'remove'] }, path: { type: 'string', minLength: 2, maxLength: 1024 }, value: {} },
  },
} as const;

function patchError(op: PatchOp, reason: string): BadRequest {
  return new BadRequest(`Couldn't apply patch '${JSON.stringify(op)}'. Reason: ${reason}`);
}

function segments(op: PatchOp): string[] {
  if (!op.path.startsWith('/')) throw patchError(op, `'${op.path}' is not a valid path`);
  const parts = op.path.slice(1).split('/').map((s) => s.replaceAll('~1', '/').replaceAll('~0', '~'));
  if (parts.length > MAX_DEPTH || parts.some((p) => p === '')) throw patchError(op, `'${op.path}' is not a valid path`);
  return parts;
}

/** A deep copy as null-prototype objects (arrays stay arrays). */
function copy(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(copy);
  if (v !== null && typeof v === 'object') {
    const out: Json = Object.create(null);
    for (const [k, x] of Object.entries(v)) out[k] = copy(x);
    return out;
  }
  return v;
}

/** `doc` with every operation applied in order; the first that cannot apply refuses the whole patch (nothing half-applied). */
export function applyPatch(doc: Json, ops: readonly PatchOp[]): Json {
  const root = copy(doc) as Json;
  for (const op of ops) {
    if (op.op !== 'remove' && !Object.hasOwn(op, 'value')) throw patchError(op, "'value' is a required property");
    const parts = segments(op);
    let parent: Json = root;
    for (const p of parts.slice(0, -1)) {
      const next = Object.hasOwn(parent, p) ? parent[p] : undefined;
      if (next === null || typeof next !== 'object' || Array.isArray(next)) throw patchError(op, `can't find the parent of '${op.path}'`);
      parent = next as Json;
    }
    const last = parts.at(-1)!;
    if ((op.op === 'replace' || op.op === 'remove') && !Object.hasOwn(parent, last)) {
      throw patchError(op, `can't ${op.op} a non-existent object '${last}'`);
    }
    if (op.op === 'remove') delete parent[last];
    else parent[last] = copy(op.value);
  }
  return root;
}
