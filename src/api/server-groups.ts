import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import { isUuidLike, newUuid } from '../common/ids.js';
import { getProjectLimits, UNLIMITED } from '../db/quotas.js';
import {
  createServerGroup, deleteServerGroup, getServerGroup, listServerGroups, liveMembers, type GroupPolicy, type GroupRules, type ServerGroup,
} from '../db/server-groups.js';
import type { Db } from '../db/connection.js';
import { MAX_INT, MAX_LIMIT, NameSchema, intOrString, intValue, mvAtLeast, queryParam, routeBoth } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';
import { checkBody } from './server-common.js';

/**
 * The os-server-groups API: groups whose policy the scheduler keeps (server-group-filter.ts).
 * Before 2.64 a group has a one-element `policies` list (soft policies since 2.15) and an empty
 * `metadata`; from 2.64 a `policy` and `rules` (max_server_per_host, anti-affinity only).
 * 2.13 adds project_id and user_id to the view.
 */

const HARD = ['anti-affinity', 'affinity'];
const ALL = [...HARD, 'soft-anti-affinity', 'soft-affinity'];

const oneOf = (allowed: string[]) => Type.Union(allowed.map((p) => Type.Literal(p)));
const policiesSchema = (allowed: string[]) => Type.Array(oneOf(allowed), { minItems: 1, maxItems: 1 });

/** Before 2.64 (and before 2.15 without the soft policies). */
const CreateV21 = Type.Object({ name: NameSchema, policies: policiesSchema(HARD) }, { additionalProperties: false });
const CreateV215 = Type.Object({ name: NameSchema, policies: policiesSchema(ALL) }, { additionalProperties: false });
const CreateV264 = Type.Object({
  name: NameSchema,
  policy: oneOf(ALL),
  rules: Type.Optional(Type.Object({ max_server_per_host: Type.Optional(intOrString({ minimum: 1, maximum: MAX_INT, pattern: '^[0-9]+$' })) }, { additionalProperties: false })),
}, { additionalProperties: false });

/** The route's schema: what every microversion shares; each version's own is checked in the handler. */
const CreateBody = Type.Object({ server_group: Type.Object({}, { additionalProperties: true }) }, { additionalProperties: false });
type CreateBody = { server_group: Record<string, unknown> };

type GroupParams = { Params: { group_id: string } };

function groupNotFound(id: string): NotFound {
  return new NotFound(`Instance group ${id} could not be found.`);
}

function view(req: FastifyRequest, g: ServerGroup, members: string[]): Record<string, unknown> {
  const out: Record<string, unknown> = { id: g.uuid, name: g.name };
  if (mvAtLeast(req, '2.64')) {
    out.policy = g.policy;
    out.rules = g.rules;
  } else {
    out.policies = [g.policy];
    out.metadata = {};
  }
  out.members = members;
  if (mvAtLeast(req, '2.13')) {
    out.project_id = g.projectId;
    out.user_id = g.userId;
  }
  return out;
}

/** A group the caller may see: its project's, or any for an admin; anything else is 404. */
async function findGroup(db: Db, req: FastifyRequest, id: string): Promise<ServerGroup> {
  const g = isUuidLike(id) ? await getServerGroup(db, id) : null;
  if (!g || (!req.auth.isAdmin && g.projectId !== req.auth.projectId)) throw groupNotFound(id);
  return g;
}

/** Nova's common.limited: `limit` (at most max_limit) and `offset`, non-negative integers. */
function limitAndOffset(req: FastifyRequest): { limit: number; offset: number } {
  const parse = (name: string, fallback: number): number => {
    const raw = queryParam(req, name);
    if (raw === undefined) return fallback;
    if (!/^-?\d+$/.test(raw.trim())) throw new BadRequest(`${name} param must be an integer`);
    const n = Number(raw);
    if (n < 0) throw new BadRequest(`${name} param must be positive`);
    return n;
  };
  return { limit: Math.min(parse('limit', MAX_LIMIT), MAX_LIMIT), offset: Math.min(parse('offset', 0), MAX_INT) };
}

/** The policy and rules of a create body at the request's microversion. */
function requestedPolicy(req: FastifyRequest, raw: Record<string, unknown>): { name: string; policy: GroupPolicy; rules: GroupRules } {
  if (mvAtLeast(req, '2.64')) {
    const b = checkBody(CreateV264, raw);
    const rules: GroupRules = {};
    if (b.rules?.max_server_per_host !== undefined) {
      rules.max_server_per_host = intValue('max_server_per_host', b.rules.max_server_per_host, 1, MAX_INT);
    }
    if (b.policy !== 'anti-affinity' && b.rules !== undefined && Object.keys(b.rules).length > 0) {
      throw new BadRequest('Only anti-affinity policy supports rules.');
    }
    return { name: b.name, policy: b.policy as GroupPolicy, rules };
  }
  const b = checkBody(mvAtLeast(req, '2.15') ? CreateV215 : CreateV21, raw);
  return { name: b.name, policy: b.policies[0] as GroupPolicy, rules: {} };
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  routeBoth(app, 'GET', '/os-server-groups', { policy: 'os_compute_api:os-server-groups:index' }, async (req) => {
    const page = limitAndOffset(req);
    // As Nova: all_projects is honoured for admins and quietly ignored for others.
    const all = queryParam(req, 'all_projects') !== undefined && req.auth.isAdmin;
    const groups = await listServerGroups(db, all ? null : (req.auth.projectId ?? ''), page);
    const members = await liveMembers(db, groups.map((g) => g.uuid));
    return { server_groups: groups.map((g) => view(req, g, members.get(g.uuid) ?? [])) };
  });

  routeBoth<GroupParams>(app, 'GET', '/os-server-groups/:group_id', { policy: 'os_compute_api:os-server-groups:show' }, async (req) => {
    const g = await findGroup(db, req, req.params.group_id);
    return { server_group: view(req, g, (await liveMembers(db, [g.uuid])).get(g.uuid) ?? []) };
  });

  routeBoth<{ Body: CreateBody }>(app, 'POST', '/os-server-groups', {
    policy: 'os_compute_api:os-server-groups:create', schema: { body: CreateBody },
  }, async (req) => {
    const { name, policy, rules } = requestedPolicy(req, req.body.server_group);
    const projectId = req.auth.projectId ?? '';
    const quota = (await getProjectLimits(db, config, projectId)).server_groups ?? UNLIMITED;
    const g = await createServerGroup(db, { uuid: newUuid(), name, projectId, userId: req.auth.userId, policy, rules }, quota);
    return { server_group: view(req, g, []) };
  });

  routeBoth<GroupParams>(app, 'DELETE', '/os-server-groups/:group_id', { policy: 'os_compute_api:os-server-groups:delete', status: 204 }, async (req) => {
    const g = await findGroup(db, req, req.params.group_id);
    if (!(await deleteServerGroup(db, g.uuid))) throw groupNotFound(req.params.group_id);
    return undefined;
  });
}
