import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import type { InstanceRow, InstanceRowUpdates } from '../db/instances.js';
import { getKeyPair } from '../db/keypairs.js';
import { replaceInstanceMetadata } from '../db/instance-metadata.js';
import { checkMetadataQuota } from '../db/quota-check.js';
import { createAction } from '../db/instance-actions.js';
import { SERVER_ACTIONS } from '../objects/actions.js';
import type { Flavor } from '../objects/compute.js';
import { rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import {
  bootImage, checkActionAllowed, checkBody, generatePassword, instanceOf, transitionTaskState, unexpectedProperty,
} from './server-common.js';
import { checkHostnameField, checkPersonality, checkTrustedCerts, PersonalitySchema, ServerHostnameSchema, TrustedCertsSchema } from './server-create-checks.js';
import {
  AccessIPv4Schema, AccessIPv6Schema, BoolSchema, DescriptionSchema, DiskConfigSchema, editedColumns, isBase64, MetadataSchema, NameSchema,
} from './server-schemas.js';
import { serverLinks, showServer } from './server-view.js';

/**
 * The rebuild action (Nova's _action_rebuild, up to 2.93): a new image for the same server,
 * which keeps its state — a SHUTOFF server stays SHUTOFF (src/compute/rebuild.ts). No server
 * here is volume-backed, so 2.93's volume-backed rebuild changes nothing Orrery can reach.
 */

export const RebuildBody = Type.Object({
  imageRef: Type.String({ format: 'uuid' }),
  name: Type.Optional(NameSchema),
  adminPass: Type.Optional(Type.String()),
  metadata: Type.Optional(MetadataSchema),
  preserve_ephemeral: Type.Optional(BoolSchema),
  'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema),
  accessIPv4: Type.Optional(AccessIPv4Schema),
  accessIPv6: Type.Optional(AccessIPv6Schema),
  description: Type.Optional(DescriptionSchema),
  key_name: Type.Optional(Type.Union([NameSchema, Type.Null()])),
  user_data: Type.Optional(Type.Union([Type.String({ maxLength: 65535 }), Type.Null()])),
  personality: Type.Optional(PersonalitySchema),
  trusted_image_certificates: Type.Optional(TrustedCertsSchema),
  hostname: Type.Optional(ServerHostnameSchema),
}, { additionalProperties: false });


export async function rebuild(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, raw: unknown): Promise<unknown> {
  const body = checkBody(RebuildBody, raw);
  if (body.description !== undefined && !mvAtLeast(req, '2.19')) throw unexpectedProperty('rebuild', 'description');
  if (body.key_name !== undefined && !mvAtLeast(req, '2.54')) throw unexpectedProperty('rebuild', 'key_name');
  if (body.user_data !== undefined && !mvAtLeast(req, '2.57')) throw unexpectedProperty('rebuild', 'user_data');
  if (typeof body.user_data === 'string' && !isBase64(body.user_data)) {
    throw new BadRequest(`Invalid input for field/attribute user_data. Value: ${body.user_data}. '${body.user_data}' is not a 'base64'`);
  }
  checkPersonality(req, 'rebuild', body.personality);
  checkTrustedCerts(req, 'rebuild', body.trusted_image_certificates);
  checkHostnameField(req, 'rebuild', body.hostname);
  const a = SERVER_ACTIONS.rebuild;
  await checkActionAllowed(deps.db, req, row, 'rebuild');
  const flavor = JSON.parse(row.flavor) as Flavor;
  const image = await bootImage(deps.images, req, body.imageRef, flavor);
  if (body.metadata) await checkMetadataQuota(deps.db, deps.config, row.project_id, Object.keys(body.metadata).length);

  const updates: InstanceRowUpdates = {
    ...editedColumns(body), task_state: a.taskState, image_ref: image.id, image_meta: JSON.stringify(image), progress: 0,
  };
  if (body.user_data !== undefined) updates.user_data = body.user_data;
  if (body.key_name !== undefined) {
    // 2.54: null removes the key pair; a name must be one of the caller's key pairs.
    const kp = body.key_name === null ? null : await getKeyPair(deps.db, req.auth.userId, body.key_name);
    if (body.key_name !== null && !kp) throw new BadRequest('Invalid key_name provided.');
    updates.key_name = kp ? body.key_name : null;
    updates.key_data = kp ? kp.publicKey : null;
  }
  const after = await transitionTaskState(deps.db, row, a.name, updates, [...a.taskStates]);
  if (body.metadata) await replaceInstanceMetadata(deps.db, row.uuid, body.metadata);
  await createAction(deps.db, { instanceUuid: row.uuid, action: a.record, requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
  await deps.compute.rebuildInstance(rpcContextOf(req), await instanceOf(deps.db, after), image);

  // 2.75 made the answer the whole server; before it, the reduced view with what 2.54/2.57 added.
  const full = mvAtLeast(req, '2.75');
  const view = await showServer(deps.db, req, deps.config, after, { reduced: !full, one: true });
  if (!full && mvAtLeast(req, '2.54')) view.key_name = after.key_name;
  if (mvAtLeast(req, '2.57')) view.user_data = after.user_data;
  view.adminPass = body.adminPass ?? generatePassword();
  reply.code(202).header('location', serverLinks(req, row.uuid)[0]!.href);
  return { server: view };
}

