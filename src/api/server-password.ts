import type { FastifyInstance } from 'fastify';
import { clearInstancePassword, getInstancePassword } from '../db/instance-passwords.js';
import type { ComputeApiDeps } from './deps.js';
import { routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';

/**
 * os-server-password: the encrypted password a guest left for its owner (posted to the metadata
 * service, metadata-app.ts); GET answers the empty password for a server that has none, as Nova.
 */

type ServerParams = { Params: { server_id: string } };

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db'>): void {
  routeBoth<ServerParams>(app, 'GET', '/servers/:server_id/os-server-password', { policy: 'os_compute_api:os-server-password:show' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    return { password: await getInstancePassword(deps.db, row.uuid) };
  });
  routeBoth<ServerParams>(app, 'DELETE', '/servers/:server_id/os-server-password', {
    policy: 'os_compute_api:os-server-password:clear', status: 204,
  }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    await clearInstancePassword(deps.db, row.uuid);
    return undefined;
  });
}
