import { BadRequest } from '../common/errors.js';
import {
  IMAGE_SORT_KEYS, TIME_OPS, type ImageListFilters, type ImageSort, type ImageSortKey, type Match, type MemberStatus, type TimeFilter,
} from '../db/images.js';
import { MEMBER_STATUSES, VISIBILITIES } from './schemas.js';

export const DEFAULT_LIMIT = 25;
export const MAX_LIMIT = 1000;

export type RawQuery = Record<string, string | string[] | undefined>;

export interface ParsedListQuery {
  filters: ImageListFilters;
  sort: ImageSort[];
  limit: number;
  marker?: string;
}

/** Parameters with a meaning of their own; every other one filters on an extra property. */
const KNOWN = new Set([
  'limit', 'marker', 'sort_key', 'sort_dir', 'sort', 'id', 'name', 'status', 'disk_format', 'container_format', 'owner',
  'visibility', 'member_status', 'tag', 'os_hidden', 'protected', 'size_min', 'size_max', 'created_at', 'updated_at',
]);

const all = (v: string | string[] | undefined): string[] => (v === undefined ? [] : Array.isArray(v) ? v : [v]);

function one(q: RawQuery, name: string): string | undefined {
  const v = all(q[name]);
  if (v.length > 1) throw new BadRequest(`Parameter ${name} may be given only once`);
  return v[0];
}

/** Glance's `in:a,b` operator, for the attributes that support it. */
function match(q: RawQuery, name: string): Match | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  return v.startsWith('in:') ? { in: v.slice(3).split(',').map((s) => s.trim()).filter((s) => s !== '') } : v;
}

function bool(q: RawQuery, name: string): boolean | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  if (/^(true|1|yes|on)$/i.test(v)) return true;
  if (/^(false|0|no|off)$/i.test(v)) return false;
  throw new BadRequest(`Invalid value for ${name}: ${v}`);
}

function nonNegativeInt(q: RawQuery, name: string): number | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  if (!/^\d+$/.test(v)) throw new BadRequest(`Invalid value for ${name}: ${v}`);
  return Number(v);
}

function time(q: RawQuery, name: string): TimeFilter | undefined {
  const v = one(q, name);
  if (v === undefined) return undefined;
  const m = /^(gt|gte|lt|lte|eq|neq):(.+)$/.exec(v);
  const op = (m?.[1] ?? 'eq') as keyof typeof TIME_OPS;
  const at = new Date(m?.[2] ?? v);
  if (Number.isNaN(at.getTime())) throw new BadRequest(`Invalid time value for ${name}: ${v}`);
  return { op, value: at.toISOString() };
}

function sortKey(k: string): ImageSortKey {
  if (!Object.hasOwn(IMAGE_SORT_KEYS, k)) throw new BadRequest(`Invalid sort key: ${k}. It should be one of: ${Object.keys(IMAGE_SORT_KEYS).join(', ')}`);
  return k as ImageSortKey;
}

function sortDir(d: string): 'asc' | 'desc' {
  if (d !== 'asc' && d !== 'desc') throw new BadRequest(`Invalid sort direction: ${d}`);
  return d;
}

/** Sorting: `sort=name:asc,created_at` or `sort_key`/`sort_dir` (repeatable); default newest first. */
function parseSort(q: RawQuery): ImageSort[] {
  const sort = one(q, 'sort');
  const keys = all(q.sort_key);
  const dirs = all(q.sort_dir);
  if (sort !== undefined) {
    if (keys.length > 0 || dirs.length > 0) throw new BadRequest('The sort parameter cannot be combined with sort_key or sort_dir');
    return sort.split(',').map((part) => {
      const [k, d] = part.trim().split(':');
      return { key: sortKey(k ?? ''), dir: sortDir(d ?? 'desc') };
    });
  }
  if (dirs.length > 1 && dirs.length !== keys.length) throw new BadRequest('The number of sort_dir values must match the number of sort_key values');
  const sortKeys = keys.length > 0 ? keys : ['created_at'];
  return sortKeys.map((k, i) => ({ key: sortKey(k), dir: sortDir(dirs[i] ?? dirs[0] ?? 'desc') }));
}

export function parseListQuery(q: RawQuery): ParsedListQuery {
  const limit = nonNegativeInt(q, 'limit') ?? DEFAULT_LIMIT;
  const visibility = one(q, 'visibility');
  if (visibility !== undefined && visibility !== 'all' && !(VISIBILITIES as readonly string[]).includes(visibility)) {
    throw new BadRequest(`Invalid visibility value: ${visibility}`);
  }
  const memberStatus = one(q, 'member_status');
  if (memberStatus !== undefined && memberStatus !== 'all' && !(MEMBER_STATUSES as readonly string[]).includes(memberStatus)) {
    throw new BadRequest(`Invalid status value: ${memberStatus}`);
  }
  const properties: Record<string, string> = Object.fromEntries(Object.keys(q)
    .filter((key) => !KNOWN.has(key))
    .flatMap((key) => { const v = one(q, key); return v === undefined ? [] : [[key, v] as [string, string]]; }));
  return {
    limit: Math.min(limit, MAX_LIMIT),
    marker: one(q, 'marker'),
    sort: parseSort(q),
    filters: {
      id: match(q, 'id'),
      name: match(q, 'name'),
      status: match(q, 'status'),
      disk_format: match(q, 'disk_format'),
      container_format: match(q, 'container_format'),
      owner: one(q, 'owner'),
      visibility: visibility as ImageListFilters['visibility'],
      member_status: memberStatus as MemberStatus | 'all' | undefined,
      tags: all(q.tag),
      os_hidden: bool(q, 'os_hidden'),
      protected: bool(q, 'protected'),
      size_min: nonNegativeInt(q, 'size_min'),
      size_max: nonNegativeInt(q, 'size_max'),
      created_at: time(q, 'created_at'),
      updated_at: time(q, 'updated_at'),
      properties,
    },
  };
}
