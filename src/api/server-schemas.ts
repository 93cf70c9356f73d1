import { isIPv4, isIPv6 } from 'node:net';
import { FormatRegistry, Type } from '@sinclair/typebox';
import { isUuidLike } from '../common/ids.js';
import type { InstanceRowUpdates } from '../db/instances.js';
import { MAX_INT, NameSchema, intOrString } from './resource-kit.js';

/**
 * JSON-schema fragments of the servers API (Nova's parameter_types). They are used both as
 * route schemas (Fastify's ajv) and in bodies checked per action or per microversion
 * (TypeBox's compiler), so the formats they use are registered for TypeBox too.
 */
if (!FormatRegistry.Has('ipv4')) FormatRegistry.Set('ipv4', (v) => isIPv4(v));
if (!FormatRegistry.Has('ipv6')) FormatRegistry.Set('ipv6', (v) => isIPv6(v));
if (!FormatRegistry.Has('uuid')) FormatRegistry.Set('uuid', (v) => isUuidLike(v));

export { NameSchema };

/** Nova's `boolean` (JSON booleans and oslo's words), usable by both validators. */
const BOOLEAN_WORDS = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'] as const;
export const BoolSchema = Type.Union([Type.Boolean(), ...BOOLEAN_WORDS.map((w) => Type.Literal(w))]);

/** Metadata: keys of 1–255 letters, digits and `-_:. `; values up to 255 characters. */
export const METADATA_KEY_PATTERN = '^[a-zA-Z0-9_:. -]{1,255}$';
export const MetadataSchema = Type.Record(Type.String({ pattern: METADATA_KEY_PATTERN }), Type.String({ maxLength: 255 }), { additionalProperties: false });

/** A description (2.19): up to 255 characters, or null. */
export const DescriptionSchema = Type.Union([Type.String({ maxLength: 255 }), Type.Null()]);

export const AccessIPv4Schema = Type.String({ format: 'ipv4' });
export const AccessIPv6Schema = Type.String({ format: 'ipv6' });

/** A server tag (2.26): 1–60 characters, no comma or slash. */
export const TagSchema = Type.String({ minLength: 1, maxLength: 60, pattern: '^[^,/]*$' });
/** Nova's instance.MAX_TAG_COUNT. */
export const MAX_TAGS = 50;

export const DiskConfigSchema = Type.Union([Type.Literal('AUTO'), Type.Literal('MANUAL')]);

/** Nova's positive_integer: a JSON integer or a string of digits, at least 1. */
export const PositiveIntSchema = intOrString({ minimum: 1, maximum: MAX_INT, pattern: '^[0-9]*$' });

/** Base64 as Nova's validator accepts it (whitespace ignored, padding required). */
export function isBase64(s: string): boolean {
  const t = s.replace(/\s+/g, '');
  return t.length % 4 === 0 && /^[A-Za-z0-9+/]*={0,2}$/.test(t);
}

/** The auto_disk_config column of an `OS-DCF:diskConfig` value (undefined when none was given). */
export function diskConfigColumn(v: 'AUTO' | 'MANUAL' | undefined): number | undefined {
  return v === undefined ? undefined : v === 'AUTO' ? 1 : 0;
}

/** `OS-DCF:diskConfig` of a stored row: AUTO only when asked for; older rows (NULL) were MANUAL. */
export function diskConfigOf(column: number | null): 'AUTO' | 'MANUAL' {
  return column === 1 ? 'AUTO' : 'MANUAL';
}

/**
 * accessIPv4/v6 as Nova stores them (netaddr's canonical text): IPv6 compressed and lower-case
 * (RFC 5952), so `2001:DB8:0:0::1` reads back as `2001:db8::1`. An empty string clears the field.
 */
export function normaliseAccessIPs(s: { accessIPv4?: string; accessIPv6?: string }): { accessIPv4?: string | null; accessIPv6?: string | null } {
  const out: { accessIPv4?: string | null; accessIPv6?: string | null } = {};
  if (s.accessIPv4 !== undefined) out.accessIPv4 = s.accessIPv4 === '' ? null : s.accessIPv4;
  if (s.accessIPv6 !== undefined) out.accessIPv6 = s.accessIPv6 === '' ? null : canonicalIPv6(s.accessIPv6);
  return out;
}

/**
 * WHATWG URL parsing compresses IPv6 as RFC 5952 does. A dotted IPv4 tail (::ffff:1.2.3.4) or a
 * zone id, which URLs do not keep as netaddr does, stays as given, lower-cased.
 */
function canonicalIPv6(ip: string): string {
  if (ip.includes('.') || ip.includes('%')) return ip.toLowerCase();
  try {
    return new URL(`http://[${ip}]/`).hostname.slice(1, -1);
  } catch {
    return ip.toLowerCase();
  }
}

/** The fields update and rebuild both change, as the columns they set. */
export interface EditableFields {
  name?: string; description?: string | null; hostname?: string; accessIPv4?: string; accessIPv6?: string; 'OS-DCF:diskConfig'?: 'AUTO' | 'MANUAL';
}

export function editedColumns(s: EditableFields): InstanceRowUpdates {
  const updates: InstanceRowUpdates = {};
  if (s.name !== undefined) updates.display_name = s.name;
  if (s.description !== undefined) updates.display_description = s.description;
  if (s.hostname !== undefined) updates.hostname = s.hostname;
  const ips = normaliseAccessIPs(s);
  if (ips.accessIPv4 !== undefined) updates.access_ip_v4 = ips.accessIPv4;
  if (ips.accessIPv6 !== undefined) updates.access_ip_v6 = ips.accessIPv6;
  const disk = diskConfigColumn(s['OS-DCF:diskConfig']);
  if (disk !== undefined) updates.auto_disk_config = disk;
  return updates;
}
