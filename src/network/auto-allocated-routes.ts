import { Type } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { authorize } from '../httpkit/authorize.js';
import { fieldsOf } from './list-kit.js';
import type { NetworkAppOptions } from './options.js';
import { deleteTopology, dryRun, ensureTopology } from './auto-allocated-topology.js';

/**
 * GET/DELETE /v2.0/auto-allocated-topology/{project_id} (Neutron's auto-allocated-topology
 * extension): GET answers the project's network id, making the topology when missing
 * (`?fields=dry-run` only checks it could be made); DELETE tears it down. The rule is checked on
 * the project in the path, so another project's topology is refused as any other project's
 * resource is.
 */

const Params = Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }) });

export function registerAutoAllocatedRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const answer = (req: FastifyRequest, projectId: string, id: string) => ({ auto_allocated_topology: { id, tenant_id: projectId, project_id: projectId } });

  app.get<{ Params: { project_id: string } }>('/v2.0/auto-allocated-topology/:project_id', {
    config: { policy: 'get_auto_allocated_topology' }, schema: { params: Params },
  }, async (req) => {
    const projectId = req.params.project_id;
    authorize(req, 'get_auto_allocated_topology', { project_id: projectId });
    if (fieldsOf(req).includes('dry-run')) {
      await dryRun(opts, projectId);
      return answer(req, projectId, 'dry-run=pass');
    }
    return answer(req, projectId, await ensureTopology(req, opts, projectId));
  });

  app.delete<{ Params: { project_id: string } }>('/v2.0/auto-allocated-topology/:project_id', {
    config: { policy: 'delete_auto_allocated_topology' }, schema: { params: Params },
  }, async (req, reply) => {
    const projectId = req.params.project_id;
    authorize(req, 'delete_auto_allocated_topology', { project_id: projectId });
    await deleteTopology(opts, projectId);
    reply.code(204);
  });
}
