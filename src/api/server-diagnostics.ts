import type { FastifyInstance } from 'fastify';
import { rpcContextOf } from '../httpkit/app.js';
import { VmState } from '../objects/states.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { checkInstanceHost, checkInstanceState, findServer, instanceOf } from './server-common.js';

/**
 * GET /servers/{id}/diagnostics (admin): the driver's view of a guest, before 2.48 in its own
 * keys, from 2.48 in Nova's standard shape (every field present, null where the driver cannot
 * tell). Needs compute RPC 1.1: while older computes live, senders are pinned below it and the
 * request is refused with 409.
 */
export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/diagnostics', { policy: 'os_compute_api:os-server-diagnostics' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    checkInstanceState(row, 'get_diagnostics', [VmState.ACTIVE, VmState.PAUSED, VmState.STOPPED, VmState.SUSPENDED], null);
    checkInstanceHost(row);
    const blob = await deps.compute.getInstanceDiagnostics(rpcContextOf(req), await instanceOf(deps.db, row));
    return mvAtLeast(req, '2.48') ? standardDiagnostics(blob, row.config_drive) : blob;
  });
}

/** Nova's 2.48 diagnostics view from what the compute service answered. */
function standardDiagnostics(answer: Record<string, unknown> | null, configDrive: string): Record<string, unknown> {
  const blob = answer ?? {};
  const memory = (blob.memory_details ?? {}) as { maximum?: unknown; used?: unknown };
  const field = (k: string): unknown => blob[k] ?? null;
  return {
    state: field('state'), driver: field('driver'), hypervisor: field('hypervisor'), hypervisor_os: field('hypervisor_os'),
    uptime: field('uptime'), config_drive: configDrive === 'True', num_cpus: field('num_cpus'), num_nics: field('num_nics') ?? 0,
    num_disks: field('num_disks'), memory_details: { maximum: memory.maximum ?? null, used: memory.used ?? null },
    cpu_details: Array.isArray(blob.cpu_details) ? blob.cpu_details : [], nic_details: Array.isArray(blob.nic_details) ? blob.nic_details : [],
    disk_details: Array.isArray(blob.disk_details) ? blob.disk_details : [],
  };
}
