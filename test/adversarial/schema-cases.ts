import fc from 'fast-check';

/**
 * Requests built from a route's JSON schemas: a body that passes the schema (so the case
 * reaches the handler, not just the validator), then one hostile change at one position. The
 * positions and changes come from the schema alone, so a new route is covered without edits.
 */

export type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Schema = Record<string, unknown>;

/** Names every plain object inherits: each must behave as `foo` would wherever a name is data. */
export const INHERITED_NAMES = [
  '__proto__', 'constructor', 'toString', 'hasOwnProperty', 'valueOf', 'isPrototypeOf', 'propertyIsEnumerable',
  'toLocaleString', '__defineGetter__', '__lookupGetter__', 'prototype',
];

/** Strings the databases cannot hold, or that upset parsers, regular expressions and SQL. */
export const HOSTILE_STRINGS = [
  'a\u0000b', '\u0000', '\u0001\u001f\u007f', '\ud800', 'x\udfffy', '\u202e\u200b', '😀', '', ' ', ' padded ',
  "' OR 1=1 --", '"; DROP TABLE instances; --', '../../etc/passwd', '%00', '%s%n', '(a+)+$', '[', '\\', '*', '.*',
  '${process.env}', '{{7*7}}', 'x'.repeat(256), 'y'.repeat(70_000),
];

export const EXTREME_NUMBERS = [2147483647, 2147483648, -2147483649, -1, 0, 1.5, 9007199254740993, 1e308, -1e308, 1e-300];

/** Values of the wrong type for any position. */
const WRONG_TYPES: Json[] = [null, true, [], {}, '1', 1, [[[[]]]]];

/** A value `depth` levels deep. */
export function nested(depth: number): Json {
  let v: Json = 'x';
  for (let i = 0; i < depth; i++) v = i % 2 ? { a: v } : [v];
  return v;
}

/** Defines (never assigns) `key` on `obj`: `o['__proto__'] = v` would set the prototype, not a key. */
function define(obj: Record<string, Json>, key: string, value: Json): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

export interface ExampleContext {
  /** An existing id for a property of this name that must be a uuid (imageRef → an image). */
  uuidFor(name: string): string;
}

const PATTERN_CANDIDATES = ['x', 'k1', 'name-1', 'abc', 'a', '1', 'CUSTOM_X', 'hw:cpu_policy', 'AUTO', 'true', '10', 'ssh-rsa'];

/** A value the schema accepts (as far as this small generator knows JSON schema). */
export function example(schema: unknown, ctx: ExampleContext, name = '', requiredOnly = false): Json {
  const s = (schema ?? {}) as Schema;
  // A schema's own example (JSON Schema's `examples`) knows what a pattern cannot say (`methods: ['password']`).
  if (Array.isArray(s.examples) && s.examples.length > 0) return s.examples[0] as Json;
  if ('const' in s) return s.const as Json;
  if (Array.isArray(s.enum)) return s.enum[0] as Json;
  for (const k of ['anyOf', 'oneOf'] as const) {
    const alts = s[k];
    if (Array.isArray(alts) && alts.length > 0) return example(alts[0], ctx, name, requiredOnly);
  }
  if (Array.isArray(s.allOf) && s.allOf.length > 0) return example(s.allOf[0], ctx, name, requiredOnly);
  const type = Array.isArray(s.type) ? s.type[0] : s.type;
  switch (type) {
    case 'null': return null;
    case 'boolean': return true;
    case 'integer':
    case 'number': return typeof s.minimum === 'number' ? Math.max(s.minimum, 1) : 1;
    case 'array': {
      const min = typeof s.minItems === 'number' ? s.minItems : 0;
      return Array.from({ length: Math.max(min, 1) }, () => example(s.items, ctx, name, requiredOnly));
    }
    case 'object': {
      const out: Record<string, Json> = {};
      const props = (s.properties ?? {}) as Record<string, unknown>;
      const required = new Set(Array.isArray(s.required) ? (s.required as string[]) : []);
      for (const [k, sub] of Object.entries(props)) if (!requiredOnly || required.has(k)) define(out, k, example(sub, ctx, k, requiredOnly));
      const patterns = (s.patternProperties ?? {}) as Record<string, unknown>;
      for (const [pattern, sub] of Object.entries(patterns).slice(0, 1)) {
        define(out, PATTERN_CANDIDATES.find((c) => new RegExp(pattern, 'u').test(c)) ?? 'k1', example(sub, ctx, '', requiredOnly));
      }
      return out;
    }
    case 'string': {
      if (s.format === 'uuid') return ctx.uuidFor(name);
      if (s.format === 'ipv4') return '192.0.2.1';
      if (s.format === 'ipv6') return '2001:db8::1';
      if (s.format === 'date-time') return '2026-01-01T00:00:00Z';
      if (typeof s.pattern === 'string') {
        const re = new RegExp(s.pattern, 'u');
        return PATTERN_CANDIDATES.find((c) => re.test(c)) ?? 'x';
      }
      const min = typeof s.minLength === 'number' ? s.minLength : 1;
      return 'x'.repeat(Math.max(min, 1));
    }
    default: return 'x';
  }
}

/** One position in a body: a value to replace, a key to rename, or an object to add a key to. */
export type Slot =
  | { kind: 'value'; path: Array<string | number>; current: Json }
  | { kind: 'key'; path: Array<string | number>; key: string }
  | { kind: 'object'; path: Array<string | number> };

export function slotsOf(v: Json, path: Array<string | number> = []): Slot[] {
  const out: Slot[] = [{ kind: 'value', path, current: v }];
  if (Array.isArray(v)) v.forEach((x, i) => out.push(...slotsOf(x, [...path, i])));
  else if (v !== null && typeof v === 'object') {
    out.push({ kind: 'object', path });
    for (const k of Object.keys(v)) {
      out.push({ kind: 'key', path, key: k });
      out.push(...slotsOf(v[k]!, [...path, k]));
    }
  }
  return out;
}

function clone(v: Json): Json {
  if (Array.isArray(v)) return v.map(clone);
  if (v === null || typeof v !== 'object') return v;
  const out: Record<string, Json> = {};
  for (const k of Object.keys(v)) define(out, k, clone(v[k]!));
  return out;
}

function at(root: Json, path: Array<string | number>): Json {
  let v = root;
  for (const p of path) v = (v as Record<string, Json>)[p as string]!;
  return v;
}

/** `root` with one change at `slot`: the value replaced, the key renamed, or a key added. */
export function mutate(root: Json, slot: Slot, replacement: Json): Json {
  const copy = clone(root);
  if (slot.kind === 'value') {
    if (slot.path.length === 0) return replacement;
    const parent = at(copy, slot.path.slice(0, -1)) as Record<string, Json> | Json[];
    const last = slot.path[slot.path.length - 1]!;
    if (Array.isArray(parent)) parent[last as number] = replacement;
    else define(parent, last as string, replacement);
    return copy;
  }
  const obj = at(copy, slot.path) as Record<string, Json>;
  const newKey = typeof replacement === 'string' ? replacement : '__proto__';
  if (slot.kind === 'key') {
    const value = obj[slot.key]!;
    delete obj[slot.key];
    define(obj, newKey, value);
  } else {
    define(obj, newKey, 'x');
  }
  return copy;
}

export const describeSlot = (s: Slot): string => `${s.kind}@${s.path.join('.') || '(root)'}${s.kind === 'key' ? `:${s.key}` : ''}`;

/** The cases every route gets: each inherited name and a NUL in every key and string position. */
export function deterministicCases(body: Json): Array<{ slot: Slot; replacement: Json }> {
  const out: Array<{ slot: Slot; replacement: Json }> = [];
  for (const slot of slotsOf(body)) {
    if (slot.kind === 'key' || slot.kind === 'object') {
      for (const r of ['__proto__', 'constructor', 'toString', 'a\u0000b']) out.push({ slot, replacement: r });
    } else if (typeof slot.current === 'string') {
      for (const r of ['__proto__', 'constructor', 'a\u0000b']) out.push({ slot, replacement: r });
    } else if (typeof slot.current === 'number') {
      for (const r of [2147483648, -1, 1e308]) out.push({ slot, replacement: r });
    }
  }
  return out;
}

/** Any hostile replacement: a name, a string, a number, a wrong type, depth or size. */
export const hostileValue: fc.Arbitrary<Json> = fc.oneof(
  fc.constantFrom(...INHERITED_NAMES),
  fc.constantFrom(...HOSTILE_STRINGS),
  fc.constantFrom(...EXTREME_NUMBERS),
  fc.constantFrom(...WRONG_TYPES),
  fc.constantFrom(nested(40), nested(5000)),
  fc.constantFrom<Json>(Array.from({ length: 10_000 }, (_, i) => `m${i}`), Object.fromEntries(Array.from({ length: 2000 }, (_, i) => [`k${i}`, 'v']))),
  fc.string({ unit: 'binary', maxLength: 40 }),
);

/** Hostile strings for a path segment or a query value (sent percent-encoded). */
export const hostileSegment: fc.Arbitrary<string> = fc.oneof(
  fc.constantFrom(...INHERITED_NAMES),
  fc.constantFrom('a\u0000b', '\u0001', '-1', '0', '99999999999999999999', '1e308', '0x10', '..', '.', ' ', 'x'.repeat(4000), "'", '%', '\ud800'),
  fc.string({ unit: 'binary', minLength: 1, maxLength: 20 }),
);
