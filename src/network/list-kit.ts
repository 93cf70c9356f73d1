import type { FastifyRequest } from 'fastify';
import { BadRequest } from '../common/errors.js';
import { requestBaseUrl } from '../httpkit/app.js';

/**
 * What every Neutron collection GET shares, applied to the views of the visible resources:
 * filters on any attribute (`?name=a&name=b` is a OR b; booleans as True/False; tags by
 * `tags`, `tags-any`, `not-tags`, `not-tags-any`), `fields=` (repeatable), sorting
 * (`sort_key`/`sort_dir`, repeatable, paired in order) and paging (`limit`, `marker`,
 * `page_reverse`) with `<collection>_links` next/previous as Neutron's pagination helper makes.
 *
 * The filters run on the views, not in SQL: a view has exactly the attributes a client can name
 * (computed ones like `subnets` or `fixed_ips` included), so any attribute filters without a
 * column map per resource. The rows read are bounded by what the caller can see (its
 * project's quota-bounded resources, plus the shared ones).
 */

export type View = Record<string, unknown>;
export type RawQuery = Record<string, string | string[] | undefined>;

/** Query parameters with a meaning of their own (never attribute filters). */
const CONTROL = new Set(['fields', 'limit', 'marker', 'page_reverse', 'sort_key', 'sort_dir', 'tags', 'tags-any', 'not-tags', 'not-tags-any']);

/** Most values one filter parameter, or one `fields`, may list. */
const MAX_VALUES = 1000;

export const valuesOf = (q: RawQuery, name: string): string[] => {
  const v = Object.hasOwn(q, name) ? q[name] : undefined;
  const list = v === undefined ? [] : Array.isArray(v) ? v : [v];
  if (list.length > MAX_VALUES) throw new BadRequest(`Too many values for ${name} (at most ${MAX_VALUES}).`);
  return list;
};

const oneOf = (q: RawQuery, name: string): string | undefined => {
  const v = valuesOf(q, name);
  return v.length === 0 ? undefined : v[v.length - 1];
};

export function parseBool(s: string, name: string): boolean {
  if (/^(true|1|yes|on)$/i.test(s)) return true;
  if (/^(false|0|no|off)$/i.test(s)) return false;
  throw new BadRequest(`Invalid input for ${name}. Reason: '${s}' cannot be converted to boolean.`);
}

/** Whether one attribute value matches one filter value (query strings against typed values). */
function matches(value: unknown, want: string, name: string): boolean {
  if (typeof value === 'boolean') return value === parseBool(want, name);
  if (typeof value === 'number') return String(value) === want;
  if (typeof value === 'string') return value === want;
  if (value === null) return want === '' || want === 'None';
  if (Array.isArray(value)) return value.some((v) => (typeof v === 'string' || typeof v === 'number') && String(v) === want);
  return false;
}

export interface ListSpec {
  /** The collection's name in the answer: `networks` → `{"networks": […], "networks_links": […]}`. */
  collection: string;
  /** Every attribute a filter or a sort key may name (the view's keys). */
  attributes: readonly string[];
  /** Filters the resource handles itself (e.g. ports' `fixed_ips=ip_address=…`): true keeps the view. */
  special?: ReadonlyMap<string, (view: View, values: string[]) => boolean>;
}

function tagFilter(q: RawQuery): (v: View) => boolean {
  const list = (name: string): string[] => valuesOf(q, name).flatMap((s) => s.split(',')).filter((s) => s !== '');
  const all = list('tags');
  const any = list('tags-any');
  const notAll = list('not-tags');
  const notAny = list('not-tags-any');
  return (v) => {
    const tags = Array.isArray(v.tags) ? (v.tags as string[]) : [];
    if (all.length > 0 && !all.every((t) => tags.includes(t))) return false;
    if (any.length > 0 && !any.some((t) => tags.includes(t))) return false;
    if (notAll.length > 0 && notAll.every((t) => tags.includes(t))) return false;
    if (notAny.length > 0 && notAny.some((t) => tags.includes(t))) return false;
    return true;
  };
}

function compare(a: unknown, b: unknown): number {
  if (a === b) return 0;
  if (a === null || a === undefined) return -1;
  if (b === null || b === undefined) return 1;
  if (typeof a === 'number' && typeof b === 'number') return a - b;
  if (typeof a === 'boolean' && typeof b === 'boolean') return Number(a) - Number(b);
  const sa = typeof a === 'string' ? a : JSON.stringify(a);
  const sb = typeof b === 'string' ? b : JSON.stringify(b);
  return sa < sb ? -1 : sa > sb ? 1 : 0;
}

/** Only the `fields=` asked for (all when none); unknown names are ignored, as Neutron does. */
export function pickFields(view: View, fields: readonly string[]): View {
  if (fields.length === 0) return view;
  const out: View = Object.create(null) as View;
  for (const f of fields) if (Object.hasOwn(view, f)) out[f] = view[f];
  return { ...out };
}

/** The `fields=` of a request (for show as well as list). */
export const fieldsOf = (req: FastifyRequest): string[] => valuesOf(req.query as RawQuery, 'fields').filter((f) => f !== '');

/** Filters, sorts, pages and trims `views` as the request asks; answers the collection body. */
export function listAnswer(req: FastifyRequest, spec: ListSpec, views: View[]): Record<string, unknown> {
  const q = { ...(req.query as RawQuery) };
  const attrs = new Set(spec.attributes);
  const filters: Array<(v: View) => boolean> = [tagFilter(q)];
  for (const name of Object.keys(q)) {
    if (CONTROL.has(name)) continue;
    const want = valuesOf(q, name);
    const special = spec.special?.get(name);
    if (special) {
      filters.push((v) => special(v, want));
      continue;
    }
    // Neutron's filter-validation: a filter on an attribute the resource does not have is refused.
    if (!attrs.has(name)) throw new BadRequest(`[${name}] is invalid attribute for filtering`);
    filters.push((v) => want.some((w) => matches(v[name], w, name)));
  }
  let items = views.filter((v) => filters.every((f) => f(v)));

  const keys = valuesOf(q, 'sort_key');
  const dirs = valuesOf(q, 'sort_dir');
  if (dirs.length > keys.length) throw new BadRequest('The number of sort_keys and sort_dirs must be same');
  for (const k of keys) if (!attrs.has(k)) throw new BadRequest(`${k} is an invalid attribute for sort_keys`);
  const order = keys.map((k, i) => {
    const d = (dirs[i] ?? 'asc').toLowerCase();
    if (d !== 'asc' && d !== 'desc') throw new BadRequest(`${dirs[i]} is an invalid value for sort_dir, valid values are: asc, desc`);
    return { k, sign: d === 'asc' ? 1 : -1 };
  });
  // Paging needs a total order: the id breaks ties (Neutron appends it too).
  if (!keys.includes('id')) order.push({ k: 'id', sign: order[0]?.sign ?? 1 });
  const cmp = (a: View, b: View): number => {
    for (const o of order) {
      const c = compare(a[o.k], b[o.k]);
      if (c !== 0) return c * o.sign;
    }
    return 0;
  };
  items.sort(cmp);

  const limitText = oneOf(q, 'limit');
  let limit: number | undefined;
  if (limitText !== undefined) {
    if (!/^-?\d{1,9}$/.test(limitText)) throw new BadRequest(`Bad limit request: Limit must be an integer 0 or greater and not '${limitText}'`);
    limit = Number(limitText);
    if (limit < 0) throw new BadRequest(`Bad limit request: Limit must be an integer 0 or greater and not '${limitText}'`);
    if (limit === 0) limit = undefined;
  }
  const marker = oneOf(q, 'marker');
  const reverse = oneOf(q, 'page_reverse') !== undefined && parseBool(oneOf(q, 'page_reverse')!, 'page_reverse');
  let page = items;
  let hasMore = false;
  let markerFound = false;
  if (marker !== undefined) {
    const at = items.findIndex((v) => v.id === marker);
    // Neutron looks the marker up: an unknown one is the resource's own 404.
    if (at < 0) throw new BadRequest(`Marker ${marker} could not be found.`);
    markerFound = true;
    page = reverse ? items.slice(0, at) : items.slice(at + 1);
  }
  if (limit !== undefined && page.length > limit) {
    hasMore = true;
    page = reverse ? page.slice(page.length - limit) : page.slice(0, limit);
  }

  const fields = fieldsOf(req);
  const body: Record<string, unknown> = { [spec.collection]: page.map((v) => pickFields(v, fields)) };
  if (limit !== undefined || markerFound) {
    const links: Array<{ rel: string; href: string }> = [];
    const base = `${requestBaseUrl(req)}${req.url.split('?')[0]}`;
    const link = (m: unknown, rev: boolean): string => {
      const p = new URLSearchParams();
      for (const name of Object.keys(q)) {
        if (name === 'marker' || name === 'page_reverse') continue;
        for (const v of valuesOf(q, name)) p.append(name, v);
      }
      p.set('marker', String(m));
      if (rev) p.set('page_reverse', 'True');
      return `${base}?${p.toString()}`;
    };
    const first = page[0];
    const last = page[page.length - 1];
    // Forward: next while more follow; previous once past the start. Reversed: the mirror.
    const more = { next: reverse ? markerFound : hasMore, previous: reverse ? hasMore : markerFound };
    if (more.next && last) links.push({ rel: 'next', href: link(last.id, false) });
    if (more.previous && first) links.push({ rel: 'previous', href: link(first.id, true) });
    body[`${spec.collection}_links`] = links;
  }
  return body;
}
