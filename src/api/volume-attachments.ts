import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type TSchema } from '@sinclair/typebox';
import { NotFound } from '../common/errors.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { queryParam, routeBoth, strictQuery } from './resource-kit.js';
import { checkBody, checkInstanceLock, checkInstanceState, findServer } from './server-common.js';
import { BoolSchema, TagSchema } from './server-schemas.js';
import { parseLimit } from './server-list.js';

/**
 * os-volume_attachments. Orrery has no block storage service yet, so no volume exists and no
 * server has one attached: lists are empty, and an attach is validated as Nova validates it (per
 * microversion) and then answered as Nova answers for a volume the volume service does not know
 * (404). Nothing is written.
 */

const V = VmState;

/** Nova's parameter_types.volume_id (a UUID). */
const VolumeId = Type.String({ pattern: '^[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}$' });
/** Nova's device name pattern of attach (a /dev path, or null to let the hypervisor choose). */
const Device = Type.Union([Type.String({ pattern: '(^/dev/x{0,1}[a-z]{0,1}d{0,1})([a-z]+)[0-9]*$' }), Type.Null()]);

const Attach21 = { volumeId: VolumeId, device: Type.Optional(Device) };
const Attach249 = { ...Attach21, tag: Type.Optional(TagSchema) };
const Attach279 = { ...Attach249, delete_on_termination: Type.Optional(BoolSchema) };

const body = (props: Record<string, TSchema>): TSchema => Type.Object({
  volumeAttachment: Type.Object(props, { additionalProperties: false }),
}, { additionalProperties: false });

const AttachBody21 = body(Attach21);
const AttachBody249 = body(Attach249);
const AttachBody279 = body(Attach279);

/** Nova's create schema at the request's microversion: 2.49 adds `tag`, 2.79 `delete_on_termination`. */
function attachSchema(req: FastifyRequest): TSchema {
  if (mvAtLeast(req, '2.79')) return AttachBody279;
  if (mvAtLeast(req, '2.49')) return AttachBody249;
  return AttachBody21;
}

/** Nova's attach_volume states (@check_instance_state). */
const ATTACH_STATES = [V.ACTIVE, V.PAUSED, V.STOPPED, V.RESIZED, V.SOFT_DELETED, V.SHELVED, V.SHELVED_OFFLOADED];

type ServerParams = { Params: { server_id: string } };
type VolumeParams = { Params: { server_id: string; volume_id: string } };

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<ServerParams>(app, 'GET', '/servers/:server_id/os-volume_attachments', { policy: 'os_compute_api:os-volumes-attachments:index' }, async (req) => {
    // Nova's index_query (limit, offset; strict from 2.75).
    strictQuery(req, ['limit', 'offset']);
    parseLimit(queryParam(req, 'limit'), Number.MAX_SAFE_INTEGER);
    const offset = queryParam(req, 'offset');
    if (offset !== undefined) parseLimit(offset, Number.MAX_SAFE_INTEGER);
    await findServer(deps.db, req, req.params.server_id);
    return { volumeAttachments: [] };
  });

  routeBoth<ServerParams & { Body: unknown }>(app, 'POST', '/servers/:server_id/os-volume_attachments', {
    policy: 'os_compute_api:os-volumes-attachments:create', bodyVariants: [AttachBody279],
  }, async (req) => {
    const b = checkBody(attachSchema(req), req.body) as { volumeAttachment: { volumeId: string } };
    const row = await findServer(deps.db, req, req.params.server_id);
    checkInstanceLock(req, row);
    checkInstanceState(row, 'attach_volume', ATTACH_STATES, null);
    // The volume service's answer for a volume it does not have: Orrery has no volumes.
    throw new NotFound(`Volume ${b.volumeAttachment.volumeId} could not be found.`);
  });

  routeBoth<VolumeParams>(app, 'GET', '/servers/:server_id/os-volume_attachments/:volume_id', { policy: 'os_compute_api:os-volumes-attachments:show' }, async (req) => {
    await findServer(deps.db, req, req.params.server_id);
    // Nova's VolumeBDMNotFound: no block device mapping names the volume.
    throw new NotFound(`No volume Block Device Mapping with id ${req.params.volume_id}.`);
  });

  routeBoth<VolumeParams>(app, 'DELETE', '/servers/:server_id/os-volume_attachments/:volume_id', { policy: 'os_compute_api:os-volumes-attachments:delete' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    checkInstanceLock(req, row);
    // Nova asks the volume service for the volume first (VolumeNotFound, 404).
    throw new NotFound(`Volume ${req.params.volume_id} could not be found.`);
  });
}
