import type { FastifyInstance } from 'fastify';
import { rpcContextOf } from '../httpkit/app.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { routeBoth } from './resource-kit.js';
import { checkInstanceHost, checkInstanceState, findServer, instanceOf } from './server-common.js';

/**
 * GET /servers/{id}/diagnostics (admin): the driver's view of a guest, in the format before
 * 2.48 (driver-specific keys). Needs compute RPC 1.1: while older computes live, senders are
 * pinned below it and the request is refused with 409.
 */
export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/diagnostics', { policy: 'os_compute_api:os-server-diagnostics' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    checkInstanceState(row, 'get_diagnostics', [VmState.ACTIVE, VmState.PAUSED, VmState.STOPPED, VmState.SUSPENDED], null);
    checkInstanceHost(row);
    return deps.compute.getInstanceDiagnostics(rpcContextOf(req), await instanceOf(deps.db, row));
  });
}
