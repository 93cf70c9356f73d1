import { BadRequest } from '../common/errors.js';

/**
 * The attributes Keystone keeps on users, projects and domains without a column of their own
 * (its `extra` blob): any body field the API does not know, stored as JSON and shown back.
 * Bounded: 32 attributes, 16 KiB of JSON; names are data (null-prototype objects).
 */
const MAX_EXTRA_KEYS = 32;
const MAX_EXTRA_BYTES = 16 * 1024;

export function extraOf(body: Record<string, unknown>, known: ReadonlySet<string>, current: string = '{}'): string {
  const out = Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(current) as Record<string, unknown>);
  for (const key of Object.keys(body)) {
    if (known.has(key)) continue;
    if (key === '__proto__' || key === 'constructor' || key === 'prototype') throw new BadRequest(`Invalid input for field '${key}': reserved name`);
    out[key] = body[key];
  }
  if (Object.keys(out).length > MAX_EXTRA_KEYS) throw new BadRequest(`At most ${MAX_EXTRA_KEYS} extra attributes are kept.`);
  const text = JSON.stringify(out);
  if (Buffer.byteLength(text) > MAX_EXTRA_BYTES) throw new BadRequest(`The extra attributes exceed ${MAX_EXTRA_BYTES} bytes.`);
  return text;
}

/** The stored extra attributes, to merge into a view (known fields win). */
export function extraFields(text: string): Record<string, unknown> {
  return Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(text) as Record<string, unknown>);
}
