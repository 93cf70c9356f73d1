import type { FastifyInstance } from 'fastify';
import type { ComputeApiDeps } from './deps.js';
import { requireMicroversion } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';

/**
 * GET /servers/{id}/topology (2.78): the guest's NUMA nodes. No Orrery flavor or driver asks for
 * a NUMA topology (hw:numa_nodes), so every server answers as a Nova server without one does.
 */
export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/topology', { policy: 'compute:server:topology:index' }, async (req) => {
    requireMicroversion(req, '2.78');
    await findServer(deps.db, req, req.params.server_id);
    return { nodes: [], pagesize_kb: null };
  });
}
