import { BadRequest } from '../common/errors.js';
import type { Json } from './driver-info.js';
import { DRIVERS } from './states.js';

/** What a node's fields may hold (Ironic's types, with Orrery's bounds on sizes). */

/** The most bytes one JSON field of a node (driver_info, properties, extra, instance_info) may take. */
export const MAX_JSON_FIELD = 16 * 1024;

/** Ironic's node names: RFC 3986 unreserved characters (utils.is_valid_logical_name). */
const NAME = /^[A-Za-z0-9\-._~]{1,255}$/;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;
const RESOURCE_CLASS = /^[A-Za-z0-9_.-]{1,80}$/;
const MAC = /^[0-9a-f]{2}(:[0-9a-f]{2}){5}$/;

export const isUuid = (s: string): boolean => UUID.test(s);

export function checkName(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !NAME.test(v) || UUID.test(v)) throw new BadRequest(`Expected a logical name but received ${JSON.stringify(v)}.`);
  return v;
}

export function checkDriver(v: unknown): string {
  if (typeof v !== 'string' || !DRIVERS.includes(v)) {
    throw new BadRequest(`Could not find the following driver(s) or hardware type(s): ${String(v).slice(0, 80)}.`);
  }
  return v;
}

export function checkJsonField(field: string, v: unknown): Json {
  if (v === null || typeof v !== 'object' || Array.isArray(v)) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${JSON.stringify(v)?.slice(0, 80)}. Expected a dict.`);
  if (JSON.stringify(v).length > MAX_JSON_FIELD) throw new BadRequest(`Invalid input for field/attribute ${field}: more than ${MAX_JSON_FIELD} bytes.`);
  return v as Json;
}

export function checkResourceClass(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !RESOURCE_CLASS.test(v)) throw new BadRequest(`Invalid input for field/attribute resource_class. Value: ${JSON.stringify(v)?.slice(0, 100)}.`);
  return v;
}

export function checkInstanceUuid(v: unknown): string | null {
  if (v === null) return null;
  if (typeof v !== 'string' || !UUID.test(v)) throw new BadRequest(`Expected a UUID for instance_uuid but received ${JSON.stringify(v)?.slice(0, 80)}.`);
  return v.toLowerCase();
}

/** A MAC address in Ironic's stored form (lower case, colons); anything else is refused. */
export function checkMac(v: unknown): string {
  const mac = typeof v === 'string' ? v.toLowerCase() : '';
  if (!MAC.test(mac)) throw new BadRequest(`Expected a MAC address but received ${JSON.stringify(v)?.slice(0, 40)}.`);
  return mac;
}

/** `fields=a,b` of a list or show, each a field of this microversion. */
export function checkFields(raw: unknown, known: ReadonlySet<string>): string[] | undefined {
  if (raw === undefined) return undefined;
  const fields = String(raw).split(',').map((f) => f.trim()).filter((f) => f !== '');
  const unknown = fields.filter((f) => !known.has(f));
  if (unknown.length > 0 || fields.length > 100) throw new BadRequest(`Field(s) "${unknown.join(', ').slice(0, 200)}" are not valid`);
  return fields;
}

/** `limit` of a list: a positive integer, at most `max`. */
export function checkLimit(raw: unknown, max: number): number {
  if (raw === undefined) return max;
  const n = Number(raw);
  if (!Number.isInteger(n) || n < 0) throw new BadRequest(`Limit must be positive: ${String(raw).slice(0, 20)}`);
  return n === 0 ? max : Math.min(n, max);
}
