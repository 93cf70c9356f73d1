/**
 * What no API accepts anywhere in a request, whatever its schema says: checked once for every
 * route (path parameters, query, body keys and values) before the route's own validation, so a
 * new route is covered without knowing about it.
 *
 * - NUL: PostgreSQL's text cannot hold it (the insert fails, which surfaced as a 500) while
 *   SQLite stores it; refusing it at validation gives both databases the same answer, as Nova's
 *   and Keystone's validators do.
 * - Lone UTF-16 surrogates: not Unicode, so no database stores them faithfully (both encode
 *   them as U+FFFD: what a client reads back would not be what it wrote).
 * - Nesting deeper than MAX_DEPTH: no OpenStack body nests past six levels; deeper ones only
 *   serve to make recursive code (validators, serialisers, this check) run out of stack.
 */

/** Deepest nesting of arrays and objects a body may have. */
export const MAX_DEPTH = 32;

/** Why `value` cannot be accepted, naming where (`body.server.name`), or null when it can. */
export function untrustedInputProblem(value: unknown, where: string): string | null {
  // Iterative, so that a body a million levels deep costs a loop, not the stack.
  const stack: Array<{ v: unknown; path: string; depth: number }> = [{ v: value, path: where, depth: 0 }];
  while (stack.length > 0) {
    const { v, path, depth } = stack.pop()!;
    if (typeof v === 'string') {
      const why = badString(v);
      if (why) return `Invalid input for field/attribute ${path}: ${why}`;
      continue;
    }
    // Only what JSON and the query parser make: a raw upload (a stream, a Buffer) is data.
    if (v === null || typeof v !== 'object' || !isJsonContainer(v)) continue;
    if (depth >= MAX_DEPTH) return `Invalid input: ${path} is nested more than ${MAX_DEPTH} levels deep`;
    if (Array.isArray(v)) {
      for (let i = 0; i < v.length; i++) stack.push({ v: v[i], path: `${path}.${i}`, depth: depth + 1 });
      continue;
    }
    for (const key of Object.keys(v)) {
      const why = badString(key);
      if (why) return `Invalid input: a key of ${path} ${why}`;
      stack.push({ v: (v as Record<string, unknown>)[key], path: `${path}.${key}`, depth: depth + 1 });
    }
  }
  return null;
}

function isJsonContainer(v: object): boolean {
  if (Array.isArray(v)) return true;
  const proto: unknown = Object.getPrototypeOf(v);
  return proto === Object.prototype || proto === null;
}

/** A high surrogate not followed by a low one, or a low one not preceded by a high one. */
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

function badString(s: string): string | null {
  if (s.includes('\u0000')) return 'contains a NUL character';
  if (LONE_SURROGATE.test(s)) return 'is not valid Unicode (a lone surrogate)';
  return null;
}
