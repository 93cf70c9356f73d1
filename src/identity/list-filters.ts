import { BadRequest } from '../common/errors.js';

/**
 * Keystone's string filters on list calls: `name=` (exact) and `name__contains`,
 * `__icontains`, `__startswith`, `__istartswith`, `__endswith`, `__iendswith` (applied to the
 * rows the exact filters left). Query names are data: read with Object.hasOwn.
 */
const OPS: ReadonlyArray<[string, (value: string, want: string) => boolean]> = [
  ['__contains', (v, w) => v.includes(w)],
  ['__icontains', (v, w) => v.toLowerCase().includes(w.toLowerCase())],
  ['__startswith', (v, w) => v.startsWith(w)],
  ['__istartswith', (v, w) => v.toLowerCase().startsWith(w.toLowerCase())],
  ['__endswith', (v, w) => v.endsWith(w)],
  ['__iendswith', (v, w) => v.toLowerCase().endsWith(w.toLowerCase())],
];

/** The rows whose `fields` satisfy every `<field>__<op>` the query names. */
export function applyStringFilters<T>(rows: T[], query: unknown, fields: Readonly<Record<string, (row: T) => string | null>>): T[] {
  const q = (query ?? {}) as Record<string, unknown>;
  const tests: Array<(row: T) => boolean> = [];
  for (const field of Object.keys(fields)) {
    const get = fields[field]!;
    for (const [suffix, op] of OPS) {
      const key = field + suffix;
      if (!Object.hasOwn(q, key)) continue;
      const want = q[key];
      if (typeof want !== 'string') throw new BadRequest(`Invalid input for field '${key}': a single string is required`);
      tests.push((row) => { const v = get(row); return v !== null && op(v, want); });
    }
  }
  return tests.length === 0 ? rows : rows.filter((r) => tests.every((t) => t(r)));
}
