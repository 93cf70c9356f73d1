import type { FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest, Forbidden } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import { liveNodeNamed } from '../db/hypervisors.js';
import { computeServiceOf } from '../db/services.js';
import { mvAtLeast, mvBetween } from './microversion.js';
import { HostSchema } from './resource-kit.js';
import { unexpectedProperty } from './server-common.js';
import { authorize } from '../httpkit/authorize.js';
import { BoolSchema, isBase64, MAX_TAGS, TagSchema } from './server-schemas.js';

/**
 * What a server create (and rebuild) accepts per microversion beyond 2.37, and how Orrery answers
 * a request for a feature it does not have (volumes, file injection, certificate validation):
 * validated as Nova validates it, then refused the way Nova refuses it when the feature is
 * unavailable — never accepted and ignored.
 */

/** Nova's block_device_mapping_v2 entry (the union of 2.1–2.93; what a version lacks is refused in code). */
export const BlockDeviceMappingSchema = Type.Object({
  source_type: Type.Optional(Type.Union(['volume', 'image', 'snapshot', 'blank'].map((t) => Type.Literal(t)))),
  destination_type: Type.Optional(Type.Union([Type.Literal('local'), Type.Literal('volume')])),
  uuid: Type.Optional(Type.String({ minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9._-]*$' })),
  boot_index: Type.Optional(Type.Union([Type.Integer(), Type.String({ pattern: '^-?[0-9]+$' }), Type.Null()])),
  volume_size: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.String({ pattern: '^[0-9]+$' }), Type.Null()])),
  device_name: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  device_type: Type.Optional(Type.String({ maxLength: 255 })),
  disk_bus: Type.Optional(Type.String({ maxLength: 255 })),
  guest_format: Type.Optional(Type.String({ maxLength: 255 })),
  delete_on_termination: Type.Optional(BoolSchema),
  no_device: Type.Optional(Type.Null()),
  tag: Type.Optional(TagSchema),
  volume_type: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()])),
}, { additionalProperties: false });

/** 2.57 removed file injection; before it, Nova's personality entries. */
export const PersonalitySchema = Type.Array(Type.Object({
  path: Type.String({ minLength: 1, maxLength: 255 }),
  contents: Type.String(),
}, { additionalProperties: false }));

/** 2.63: 1–50 distinct certificate ids, or null. */
export const TrustedCertsSchema = Type.Union([
  Type.Array(Type.String({ minLength: 1 }), { minItems: 1, maxItems: 50, uniqueItems: true }),
  Type.Null(),
]);

/** 2.90: an RFC 1123 label (Nova's parameter_types.hostname for servers). */
export const ServerHostnameSchema = Type.String({ minLength: 2, maxLength: 63, pattern: '^[a-zA-Z0-9]([a-zA-Z0-9-]*[a-zA-Z0-9])?$' });

export const RequestedHostSchema = HostSchema;

type Bdm = {
  source_type?: string; destination_type?: string; uuid?: string; boot_index?: number | string | null;
  tag?: string; volume_type?: string | null;
};

/** A network's `tag` is known in 2.32–2.36 and again from 2.42 (the fix of the 2.37 regression). */
export function checkNetworkTag(req: FastifyRequest): void {
  if (!mvBetween(req, '2.32', '2.36') && !mvAtLeast(req, '2.42')) throw unexpectedProperty('networks', 'tag');
}

/**
 * block_device_mapping_v2: `tag` is known at 2.32 and from 2.42, `volume_type` from 2.67. The
 * one mapping Orrery can honour is the image itself as the local root disk (what imageRef
 * already says); anything that needs a volume answers as Nova does without a Block Storage
 * service, and local blank disks are not built by any driver here.
 */
export function checkBlockDevices(req: FastifyRequest, bdms: readonly Bdm[] | undefined, imageRef: string): void {
  if (bdms === undefined) return;
  for (const b of bdms) {
    if (b.tag !== undefined && !mvBetween(req, '2.32', '2.32') && !mvAtLeast(req, '2.42')) throw unexpectedProperty('block_device_mapping_v2', 'tag');
    if (b.volume_type !== undefined && !mvAtLeast(req, '2.67')) throw unexpectedProperty('block_device_mapping_v2', 'volume_type');
  }
  for (const b of bdms) {
    const source = b.source_type ?? 'volume';
    const dest = b.destination_type ?? (source === 'image' || source === 'blank' ? 'local' : 'volume');
    if (b.uuid !== undefined && source !== 'blank' && !isUuidLike(b.uuid)) {
      throw new BadRequest(`Block Device Mapping is Invalid: ${source} id ${b.uuid} is not a uuid.`);
    }
    if (dest === 'volume' || source === 'volume' || source === 'snapshot') {
      throw new BadRequest('Block Device Mapping is Invalid: volumes are unavailable (this cloud has no Block Storage service).');
    }
    if (source === 'blank') throw new BadRequest('Block Device Mapping is Invalid: local blank disks (ephemeral, swap) are not supported.');
    if (source === 'image' && b.uuid !== undefined && b.uuid !== imageRef) {
      throw new BadRequest('Block Device Mapping is Invalid: a local image disk must be the boot image (imageRef).');
    }
  }
}

/** Nova's maxPersonality and maxPersonalitySize defaults (the injected_files quotas). */
const MAX_PERSONALITY = 5;
const MAX_PERSONALITY_SIZE = 10240;

/**
 * `personality` below 2.57: validated with Nova's limits, then refused — no Orrery driver injects
 * files (Nova answers a driver without injection the same way: the file never arrives).
 */
export function checkPersonality(req: FastifyRequest, where: string, files: ReadonlyArray<{ path: string; contents: string }> | undefined): void {
  if (files === undefined) return;
  if (mvAtLeast(req, '2.57')) throw unexpectedProperty(where, 'personality');
  if (files.length > MAX_PERSONALITY) throw new Forbidden('Personality file limit exceeded');
  for (const f of files) {
    if (!isBase64(f.contents)) throw new BadRequest(`Personality content for ${f.path} cannot be decoded`);
    if (Buffer.from(f.contents, 'base64').length > MAX_PERSONALITY_SIZE) throw new Forbidden('Personality file content exceeds maximum 10240');
  }
  if (files.length > 0) throw new BadRequest('Personality file injection is not supported by the compute drivers of this cloud; use user_data or a config drive.');
}

/**
 * `trusted_image_certificates` from 2.63: validated, then refused, since no driver contract
 * version has image signature verification — Nova fails such a request (no host can honour it)
 * rather than boot an image it did not verify.
 */
export function checkTrustedCerts(req: FastifyRequest, where: string, certs: readonly string[] | null | undefined): void {
  if (certs === undefined) return;
  if (!mvAtLeast(req, '2.63')) throw unexpectedProperty(where, 'trusted_image_certificates');
  if (certs !== null) {
    throw new BadRequest('Image signature certificate validation is not available: no compute driver of this cloud verifies image signatures.');
  }
}

/** 2.52: tags on create, at most MAX_TAGS. */
export function checkCreateTags(req: FastifyRequest, tags: readonly string[] | undefined): string[] {
  if (tags === undefined) return [];
  if (!mvAtLeast(req, '2.52')) throw unexpectedProperty('server', 'tags');
  if (tags.length > MAX_TAGS) throw new BadRequest(`Invalid input for field/attribute tags. Value: ${JSON.stringify(tags)}. ${JSON.stringify(tags)} is too long`);
  return [...new Set(tags)];
}

/** 2.90: `hostname` on create (one server only), update and rebuild. */
export function checkHostnameField(req: FastifyRequest, where: string, hostname: string | undefined, count = 1): void {
  if (hostname === undefined) return;
  if (!mvAtLeast(req, '2.90')) throw unexpectedProperty(where, 'hostname');
  if (count > 1) throw new BadRequest('Cannot specify hostname when creating multiple instances.');
}

/**
 * 2.74: `host` and `hypervisor_hostname` name a destination (admin only, Nova's
 * compute:servers:create:requested_destination); they exclude "zone:host:node" and must exist.
 */
export async function requestedDestination(
  db: Db, req: FastifyRequest, host: string | undefined, node: string | undefined, azHasHost: boolean,
): Promise<{ host: string | null; node: string | null }> {
  if (host === undefined && node === undefined) return { host: null, node: null };
  if (!mvAtLeast(req, '2.74')) throw unexpectedProperty('server', host !== undefined ? 'host' : 'hypervisor_hostname');
  authorize(req, 'compute:servers:create:requested_destination');
  if (azHasHost) throw new BadRequest('Invalid input received: host and hypervisor_hostname cannot be used with the zone:host:node form of availability_zone');
  if (host !== undefined && !(await computeServiceOf(db, host))) throw new BadRequest(`Compute host ${host} could not be found.`);
  if (node !== undefined && !(await liveNodeNamed(db, node, host))) throw new BadRequest(`Compute host ${host ?? node} could not be found.`);
  return { host: host ?? null, node: node ?? null };
}
