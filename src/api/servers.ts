import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { Db } from '../db/connection.js';
import { createAction } from '../db/instance-actions.js';
import { getInstanceRow, markInstanceDeleted, updateInstanceRow, type InstanceRow } from '../db/instances.js';
import { atomically } from '../db/transactions.js';
import { TaskState } from '../objects/states.js';
import { softDelete } from './deferred-delete.js';
import { rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { checkInstanceLock, findServer, instanceNotFound, instanceOf, unexpectedProperty } from './server-common.js';
import { checkHostnameField, ServerHostnameSchema } from './server-create-checks.js';
import { createServers, CreateBody } from './server-create.js';
import { listServers } from './server-list.js';
import {
  AccessIPv4Schema, AccessIPv6Schema, DescriptionSchema, DiskConfigSchema, editedColumns, NameSchema,
} from './server-schemas.js';
import { showServer } from './server-view.js';
import { deleteShelvedSnapshot } from './server-shelve.js';
import { releasePortsLocally } from './server-ports.js';

/**
 * The servers API routes (Nova's servers controller, up to 2.93): show, update and delete here;
 * listing in server-list.ts, create in server-create.ts.
 */

const UpdateBody = Type.Object({
  server: Type.Object({
    name: Type.Optional(NameSchema),
    'OS-DCF:diskConfig': Type.Optional(DiskConfigSchema),
    accessIPv4: Type.Optional(AccessIPv4Schema),
    accessIPv6: Type.Optional(AccessIPv6Schema),
    description: Type.Optional(DescriptionSchema),
    hostname: Type.Optional(ServerHostnameSchema),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

type ServerParams = { Params: { server_id: string } };

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth(app, 'GET', '/servers', { policy: 'os_compute_api:servers:index' }, (req) => listServers(deps, req, false));
  routeBoth(app, 'GET', '/servers/detail', { policy: 'os_compute_api:servers:detail' }, (req) => listServers(deps, req, true));
  routeBoth<ServerParams>(app, 'GET', '/servers/:server_id', { policy: 'os_compute_api:servers:show' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    return { server: await showServer(deps.db, req, deps.config, row, { one: true }) };
  });
  routeBoth<{ Body: CreateBody }>(app, 'POST', '/servers', { policy: 'os_compute_api:servers:create', schema: { body: CreateBody }, status: 202 }, (req, reply) => createServers(deps, req, reply));
  routeBoth<ServerParams & { Body: UpdateBody }>(app, 'PUT', '/servers/:server_id', { policy: 'os_compute_api:servers:update', schema: { body: UpdateBody } }, (req) => updateServer(deps, req));
  routeBoth<ServerParams>(app, 'DELETE', '/servers/:server_id', { policy: 'os_compute_api:servers:delete', status: 204 }, async (req) => {
    await deleteServer(deps, req, req.params.server_id);
    return undefined;
  });
}

// ---- update

async function updateServer(deps: ComputeApiDeps, req: FastifyRequest<ServerParams & { Body: UpdateBody }>): Promise<unknown> {
  const s = req.body.server;
  if (s.description !== undefined && !mvAtLeast(req, '2.19')) throw unexpectedProperty('server', 'description');
  checkHostnameField(req, 'server', s.hostname);
  const row = await findServer(deps.db, req, req.params.server_id);
  await updateInstanceRow(deps.db, row.uuid, editedColumns(s));
  const after = await getInstanceRow(deps.db, row.uuid);
  if (!after) throw instanceNotFound(row.uuid);
  // 2.75 made the answer the whole server, as GET shows it.
  return { server: await showServer(deps.db, req, deps.config, after, { reduced: !mvAtLeast(req, '2.75'), one: true }) };
}

// ---- delete

/**
 * Deletes an instance no compute node has, only while it still has none, so that a concurrent
 * scheduling either wins (and the delete goes to its node) or finds the instance deleted.
 */
async function deleteUnscheduled(db: Db, req: FastifyRequest, row: InstanceRow): Promise<boolean> {
  return atomically(db, async (tx) => {
    if (!(await markInstanceDeleted(tx, row.uuid, { unscheduled: true }))) return false;
    await createAction(tx, { instanceUuid: row.uuid, action: 'delete', requestId: req.requestId, projectId: row.project_id, userId: req.auth.userId });
    return true;
  });
}

/** DELETE /servers/{id}; deferred (a soft delete) when so configured, unless `hard` (forceDelete). */
export async function deleteServer(deps: ComputeApiDeps, req: FastifyRequest, id: string, opts: { hard?: boolean } = {}): Promise<void> {
  const { db } = deps;
  const row = await findServer(db, req, id);
  checkInstanceLock(req, row);
  await deleteShelvedSnapshot(deps, req, row);
  if (row.node === null && await deleteUnscheduled(db, req, row)) {
    // A shelved-offloaded server keeps its ports: no compute will release them.
    await releasePortsLocally(deps.network, deps.log, row);
    return;
  }
  // Placed on a node (perhaps just now): the node's compute service deletes it.
  const current = row.node !== null ? row : await findServer(db, req, id);
  if (current.node === null) throw instanceNotFound(id);
  if (!opts.hard && await softDelete(deps, req, current)) return;
  await updateInstanceRow(db, current.uuid, { task_state: TaskState.DELETING });
  await createAction(db, { instanceUuid: current.uuid, action: 'delete', requestId: req.requestId, projectId: current.project_id, userId: req.auth.userId });
  const instance = await instanceOf(db, { ...current, task_state: TaskState.DELETING });
  await deps.compute.instanceAction(rpcContextOf(req), 'terminate_instance', instance);
}
