import type { FastifyInstance } from 'fastify';
import { NotFound } from '../common/errors.js';
import type { ComputeApiDeps } from './deps.js';
import { routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';

/**
 * /servers/{id}/ips: a server's addresses by network. Orrery has no network service yet, so
 * every server has none: the list is empty and any network is one the server is not on (Nova's 404).
 */

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db'>): void {
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/ips', { policy: 'os_compute_api:ips:index' }, async (req) => {
    await findServer(deps.db, req, req.params.server_id);
    return { addresses: {} };
  });
  routeBoth<{ Params: { server_id: string; network: string } }>(app, 'GET', '/servers/:server_id/ips/:network', { policy: 'os_compute_api:ips:show' }, async (req) => {
    await findServer(deps.db, req, req.params.server_id);
    throw new NotFound('Instance is not a member of specified network');
  });
}
