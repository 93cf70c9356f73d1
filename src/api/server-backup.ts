import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import type { InstanceRow } from '../db/instances.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { intOrString, intValue, MAX_INT, NameSchema } from './resource-kit.js';
import { checkBody } from './server-common.js';
import { MetadataSchema } from './server-schemas.js';
import { imageUrl, snapshotToImage, type SomeActionHandlers } from './server-actions.js';

/**
 * The createBackup action: a snapshot marked `image_type: backup` with its `backup_type`, of
 * which only the newest `rotation` of that type are kept — older ones are deleted through the
 * image API with the caller's token. Only where the node's driver can snapshot (409 otherwise).
 *
 * Nova rotates once the upload is done; here the older backups go when the new one is created,
 * so the count is the same and the rotation needs no call back from the compute. Rotation 0
 * keeps no backup of the type: the old ones are deleted and none is taken (what Nova's
 * rotation leaves after taking one).
 */

const BackupBody = Type.Object({
  name: NameSchema,
  backup_type: Type.String({ maxLength: 255 }),
  rotation: intOrString({ minimum: 0, maximum: MAX_INT }),
  metadata: Type.Optional(MetadataSchema),
}, { additionalProperties: false });

async function rotate(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, backupType: string, keep: number, except: string | null): Promise<void> {
  const { images: backups } = await deps.images.listImages({
    instance_uuid: row.uuid, image_type: 'backup', backup_type: backupType, sort: 'created_at:desc', limit: '1000',
  }, req.auth.tokenId);
  const older = backups.filter((b) => b.id !== except);
  // Newest first: the new backup is one of the `keep`.
  for (const b of older.slice(Math.max(0, keep - (except ? 1 : 0)))) {
    await deps.images.deleteImage(b.id, req.auth.tokenId).catch((err: unknown) => req.log.warn({ err, image: b.id }, 'could not delete a rotated backup'));
  }
}

async function createBackup(deps: ComputeApiDeps, req: FastifyRequest, reply: FastifyReply, row: InstanceRow, raw: unknown): Promise<unknown> {
  const body = checkBody(BackupBody, raw);
  const rotation = intValue('rotation', body.rotation, 0, MAX_INT);
  if (rotation === 0) {
    await rotate(deps, req, row, body.backup_type, 0, null);
    reply.code(202);
    return undefined;
  }
  const imageId = await snapshotToImage(deps, req, row, 'createBackup', body.name, body.metadata ?? {}, {
    image_type: 'backup', backup_type: body.backup_type,
  });
  await rotate(deps, req, row, body.backup_type, rotation, imageId);
  reply.code(202);
  // 2.45: the image id in the body instead of a Location header.
  if (mvAtLeast(req, '2.45')) return { image_id: imageId };
  reply.header('location', imageUrl(deps, req, imageId));
  return undefined;
}

export const BACKUP_ACTIONS = {
  createBackup: { handler: (deps, req, reply, row, body) => createBackup(deps, req, reply, row, body), body: BackupBody },
} satisfies SomeActionHandlers;
