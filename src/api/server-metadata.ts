import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import { changeInstanceMetadata, instanceMetadata } from '../db/instance-metadata.js';
import type { InstanceRow } from '../db/instances.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { routeBoth } from './resource-kit.js';
import { checkInstanceLock, checkInstanceState, findServer } from './server-common.js';
import { METADATA_KEY_PATTERN, MetadataSchema } from './server-schemas.js';

/** Server metadata (Nova's server_metadata controller). */

const MetadataBody = Type.Object({ metadata: MetadataSchema }, { additionalProperties: false });
type MetadataBody = Static<typeof MetadataBody>;
const MetaBody = Type.Object({
  meta: Type.Record(Type.String({ pattern: METADATA_KEY_PATTERN }), Type.String({ maxLength: 255 }), {
    minProperties: 1, maxProperties: 1, additionalProperties: false,
  }),
}, { additionalProperties: false });
type MetaBody = Static<typeof MetaBody>;

/** Nova changes metadata only of instances at rest (update/delete_instance_metadata). */
const METADATA_VM_STATES = [VmState.ACTIVE, VmState.PAUSED, VmState.SUSPENDED, VmState.STOPPED];

type Params = { Params: { server_id: string } };
type KeyParams = { Params: { server_id: string; key: string } };

function checkChangeable(req: FastifyRequest, row: InstanceRow, action: 'update metadata' | 'delete metadata'): void {
  checkInstanceLock(req, row);
  checkInstanceState(row, action, METADATA_VM_STATES);
}

const itemNotFound = (): NotFound => new NotFound('Metadata item was not found');

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  const { db } = deps;
  /** New items must fit the project's metadata_items quota. */
  const quotaOf = (row: InstanceRow) => ({ config: deps.config, projectId: row.project_id });

  routeBoth<Params>(app, 'GET', '/servers/:server_id/metadata', { policy: 'os_compute_api:server-metadata:index' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id);
    return { metadata: await instanceMetadata(db, row.uuid) };
  });

  // POST merges into the existing items, PUT replaces them all.
  routeBoth<Params & { Body: MetadataBody }>(app, 'POST', '/servers/:server_id/metadata', { policy: 'os_compute_api:server-metadata:create', schema: { body: MetadataBody } }, async (req) => {
    const row = await findServer(db, req, req.params.server_id);
    checkChangeable(req, row, 'update metadata');
    return { metadata: await changeInstanceMetadata(db, row.uuid, (current) => ({ ...current, ...req.body.metadata }), quotaOf(row)) };
  });

  routeBoth<Params & { Body: MetadataBody }>(app, 'PUT', '/servers/:server_id/metadata', { policy: 'os_compute_api:server-metadata:update_all', schema: { body: MetadataBody } }, async (req) => {
    const row = await findServer(db, req, req.params.server_id);
    checkChangeable(req, row, 'update metadata');
    return { metadata: await changeInstanceMetadata(db, row.uuid, () => ({ ...req.body.metadata }), quotaOf(row)) };
  });

  routeBoth<KeyParams>(app, 'GET', '/servers/:server_id/metadata/:key', { policy: 'os_compute_api:server-metadata:show' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id);
    const md = await instanceMetadata(db, row.uuid);
    if (!Object.hasOwn(md, req.params.key)) throw itemNotFound();
    return { meta: { [req.params.key]: md[req.params.key] } };
  });

  routeBoth<KeyParams & { Body: MetaBody }>(app, 'PUT', '/servers/:server_id/metadata/:key', { policy: 'os_compute_api:server-metadata:update', schema: { body: MetaBody } }, async (req) => {
    const [key, value] = Object.entries(req.body.meta)[0]!;
    if (key !== req.params.key) throw new BadRequest('Request body and URI mismatch');
    const row = await findServer(db, req, req.params.server_id);
    checkChangeable(req, row, 'update metadata');
    await changeInstanceMetadata(db, row.uuid, (current) => ({ ...current, [key]: value }), quotaOf(row));
    return { meta: { [key]: value } };
  });

  routeBoth<KeyParams>(app, 'DELETE', '/servers/:server_id/metadata/:key', { policy: 'os_compute_api:server-metadata:delete', status: 204 }, async (req) => {
    const row = await findServer(db, req, req.params.server_id);
    const md = await instanceMetadata(db, row.uuid);
    if (!Object.hasOwn(md, req.params.key)) throw itemNotFound();
    checkChangeable(req, row, 'delete metadata');
    // Deletes are not checked against the quota, as in Nova.
    await changeInstanceMetadata(db, row.uuid, (current) => {
      const next = { ...current };
      delete next[req.params.key];
      return next;
    });
    return undefined;
  });
}
