import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, Forbidden, NotFound } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { addImpliedRole, deleteImpliedRole, getRole, hasImpliedRole, listImpliedRoles, listRoles, type RoleRow } from '../db/identity.js';
import type { IdentityAppOptions } from './options.js';
import { collection, v3Url } from './views.js';

/**
 * Keystone's role implications (`/v3/roles/{prior}/implies/{implied}`, `/v3/role_inferences`):
 * a token scoped with the prior role carries the implied one too. Bootstrap makes admin imply
 * member and member imply reader; admin itself may never be implied (Keystone's
 * `[assignment] prohibited_implied_role`), so no role grants admin by implication.
 */

const PriorParams = Type.Object({ priorId: Type.String() });
const PairParams = Type.Object({ priorId: Type.String(), impliedId: Type.String() });
const PROHIBITED_IMPLIED = new Set(['admin']);

const ref = (req: FastifyRequest, r: RoleRow) => ({ id: r.id, name: r.name, links: { self: v3Url(req, `/roles/${r.id}`) } });

async function role(db: Db, id: string): Promise<RoleRow> {
  const r = await getRole(db, id);
  if (!r) throw new NotFound(`Could not find role: ${id}.`);
  return r;
}

export function registerImpliedRoleRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get('/v3/role_inferences', { config: { policy: 'identity:list_role_inference_rules' } }, async (req) => {
    const rules = await listImpliedRoles(db);
    const byId = new Map((await listRoles(db, { ids: [...new Set(rules.flatMap((r) => [r.prior_role_id, r.implied_role_id]))] })).map((r) => [r.id, r]));
    const grouped = new Map<string, RoleRow[]>();
    for (const r of rules) {
      const implied = byId.get(r.implied_role_id);
      if (implied && byId.has(r.prior_role_id)) grouped.set(r.prior_role_id, [...(grouped.get(r.prior_role_id) ?? []), implied]);
    }
    return collection(req, 'role_inferences', [...grouped].map(([prior, implies]) => ({
      prior_role: ref(req, byId.get(prior)!), implies: implies.map((r) => ref(req, r)),
    })));
  });

  app.get<{ Params: Static<typeof PriorParams> }>('/v3/roles/:priorId/implies', {
    config: { policy: 'identity:list_implied_roles' }, schema: { params: PriorParams },
  }, async (req) => {
    const prior = await role(db, req.params.priorId);
    const ids = (await listImpliedRoles(db, prior.id)).map((r) => r.implied_role_id);
    return {
      role_inference: { prior_role: ref(req, prior), implies: (await listRoles(db, { ids })).map((r) => ref(req, r)) },
      links: { self: v3Url(req, `/roles/${prior.id}/implies`) },
    };
  });

  const pairPath = '/v3/roles/:priorId/implies/:impliedId';
  const pair = async (p: Static<typeof PairParams>): Promise<{ prior: RoleRow; implied: RoleRow }> => ({
    prior: await role(db, p.priorId), implied: await role(db, p.impliedId),
  });
  const inference = (req: FastifyRequest, prior: RoleRow, implied: RoleRow) => ({
    role_inference: { prior_role: ref(req, prior), implies: ref(req, implied) },
    links: { self: v3Url(req, `/roles/${prior.id}/implies/${implied.id}`) },
  });
  const existing = async (p: Static<typeof PairParams>): Promise<{ prior: RoleRow; implied: RoleRow }> => {
    const found = await pair(p);
    if (!(await hasImpliedRole(db, { prior_role_id: found.prior.id, implied_role_id: found.implied.id }))) {
      throw new NotFound(`${p.priorId} does not imply ${p.impliedId}.`);
    }
    return found;
  };

  app.put<{ Params: Static<typeof PairParams> }>(pairPath, {
    config: { policy: 'identity:create_implied_role' }, schema: { params: PairParams },
  }, async (req, reply) => {
    const { prior, implied } = await pair(req.params);
    if (PROHIBITED_IMPLIED.has(implied.name)) throw new Forbidden(`${implied.id} cannot be an implied roles.`);
    if (prior.id === implied.id || await implies(db, implied.id, prior.id)) {
      throw new BadRequest(`Implying ${implied.id} from ${prior.id} would make a cycle.`);
    }
    await addImpliedRole(db, { prior_role_id: prior.id, implied_role_id: implied.id });
    tokens.forget({});
    reply.code(201);
    return inference(req, prior, implied);
  });
  app.get<{ Params: Static<typeof PairParams> }>(pairPath, {
    config: { policy: 'identity:get_implied_role' }, schema: { params: PairParams }, exposeHeadRoute: false,
  }, async (req) => {
    const { prior, implied } = await existing(req.params);
    return inference(req, prior, implied);
  });
  app.head<{ Params: Static<typeof PairParams> }>(pairPath, {
    config: { policy: 'identity:check_implied_role' }, schema: { params: PairParams },
  }, async (req, reply) => {
    await existing(req.params);
    reply.code(204).send();
  });
  app.delete<{ Params: Static<typeof PairParams> }>(pairPath, {
    config: { policy: 'identity:delete_implied_role' }, schema: { params: PairParams },
  }, async (req, reply) => {
    const { prior, implied } = await existing(req.params);
    await deleteImpliedRole(db, { prior_role_id: prior.id, implied_role_id: implied.id });
    tokens.forget({});
    reply.code(204).send();
  });
}

/** Whether `from` implies `to`, directly or through others (bounded by the table's size). */
async function implies(db: Db, from: string, to: string): Promise<boolean> {
  const rules = await listImpliedRoles(db);
  const seen = new Set([from]);
  const queue = [from];
  while (queue.length > 0) {
    const cur = queue.shift()!;
    for (const r of rules) {
      if (r.prior_role_id !== cur || seen.has(r.implied_role_id)) continue;
      if (r.implied_role_id === to) return true;
      seen.add(r.implied_role_id);
      queue.push(r.implied_role_id);
    }
  }
  return false;
}
