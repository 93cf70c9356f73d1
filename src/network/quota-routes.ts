import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deleteQuotas, projectsWithQuotas, QUOTA_RESOURCES, quotaUsage, setQuota } from '../db/network-quotas.js';
import { authorize } from '../httpkit/authorize.js';
import { NeutronError } from './common.js';
import type { NetworkAppOptions } from './options.js';
import { quotaDefaults, quotaLimits } from './quota.js';

/**
 * /v2.0/quotas (Neutron's quotas and quota_details extensions): a project reads its own, admin
 * reads and sets any. A project id in the URL is not looked up (Neutron does not either).
 */

const ProjectParams = Type.Object({ project_id: Type.String({ minLength: 1, maxLength: 64 }) });
const Limit = Type.Integer({ minimum: -1, maximum: 2147483647 });
const UpdateBody = Type.Object({
  quota: Type.Object(Object.fromEntries(QUOTA_RESOURCES.map((r) => [r, Type.Optional(Limit)])), { additionalProperties: false }),
}, { additionalProperties: false });


export function registerQuotaRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;
  const own = (project: string) => ({ project_id: project });

  app.get('/v2.0/quotas', { config: { policy: 'get_quota' } }, async (req) => {
    // Neutron's quotas controller: listing every project's quotas is admin's (AdminRequired, not a policy rule).
    if (!req.auth.isAdmin) throw new NeutronError(403, 'AdminRequired', 'User does not have admin privileges: Only admin can view or configure quota.');
    const out = [];
    for (const p of await projectsWithQuotas(db)) out.push({ ...(await quotaLimits(db, config, p)), project_id: p, tenant_id: p });
    return { quotas: out };
  });

  app.get<{ Params: { project_id: string } }>('/v2.0/quotas/:project_id', {
    config: { policy: 'get_quota' }, schema: { params: ProjectParams },
  }, async (req) => {
    authorize(req, 'get_quota', own(req.params.project_id));
    return { quota: await quotaLimits(db, config, req.params.project_id) };
  });

  app.get<{ Params: { project_id: string } }>('/v2.0/quotas/:project_id/default', {
    config: { policy: 'get_quota' }, schema: { params: ProjectParams },
  }, async (req) => {
    authorize(req, 'get_quota', own(req.params.project_id));
    return { quota: quotaDefaults(config) };
  });

  app.get<{ Params: { project_id: string } }>('/v2.0/quotas/:project_id/details', {
    config: { policy: 'get_quota' }, schema: { params: ProjectParams },
  }, async (req) => {
    authorize(req, 'get_quota', own(req.params.project_id));
    const limits = await quotaLimits(db, config, req.params.project_id);
    const quota: Record<string, unknown> = {};
    for (const r of QUOTA_RESOURCES) quota[r] = { limit: limits[r], used: await quotaUsage(db, req.params.project_id, r), reserved: 0 };
    return { quota };
  });

  app.put<{ Params: { project_id: string }; Body: Static<typeof UpdateBody> }>('/v2.0/quotas/:project_id', {
    config: { policy: 'update_quota' }, schema: { params: ProjectParams, body: UpdateBody },
  }, async (req) => {
    authorize(req, 'update_quota', own(req.params.project_id));
    for (const r of QUOTA_RESOURCES) {
      const v = req.body.quota[r];
      if (v !== undefined) await setQuota(db, req.params.project_id, r, v);
    }
    return { quota: await quotaLimits(db, config, req.params.project_id) };
  });

  app.delete<{ Params: { project_id: string } }>('/v2.0/quotas/:project_id', {
    config: { policy: 'delete_quota' }, schema: { params: ProjectParams },
  }, async (req, reply) => {
    authorize(req, 'delete_quota', own(req.params.project_id));
    await deleteQuotas(db, req.params.project_id);
    reply.code(204);
  });
}
