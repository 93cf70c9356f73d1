import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Forbidden, NotFound } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import {
  getRole, listAssignments, listImpliedRoles, listProjects, listRoles, listUsers, projectDescendants, type RoleRow,
} from '../db/identity.js';
import { groupMemberIds, listDomains, listGroups } from '../db/identity-domains.js';
import { addGrant, hasGrant, listGrants, removeGrant, type GrantRow } from '../db/identity-grants.js';
import { domainOr404 } from './domains.js';
import { groupOr404 } from './group-routes.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import { projectOr404 } from './project-routes.js';
import { userOr404 } from './user-routes.js';
import { collection, domainRef, roleView, v3Url } from './views.js';

/**
 * Grants beyond user-on-project (role-routes.ts has that one): group on project, user or group
 * on domain, and OS-INHERIT's inherited-to-projects grants on a domain; and
 * `GET /v3/role_assignments` over all of them, with Keystone's filters and `effective`.
 */

type ActorKind = 'user' | 'group';
type TargetKind = 'project' | 'domain';

const RoleListParams = Type.Object({ targetId: Type.String(), actorId: Type.String() });
const GrantParams = Type.Object({ targetId: Type.String(), actorId: Type.String(), roleId: Type.String() });

const AssignmentQuery = Type.Object({
  'user.id': Type.Optional(Type.String()),
  'group.id': Type.Optional(Type.String()),
  'role.id': Type.Optional(Type.String()),
  'scope.project.id': Type.Optional(Type.String()),
  'scope.domain.id': Type.Optional(Type.String()),
  'scope.system': Type.Optional(Type.String()),
  'scope.OS-INHERIT:inherited_to': Type.Optional(Type.String()),
  include_names: Type.Optional(Type.String()),
  effective: Type.Optional(Type.String()),
  include_subtree: Type.Optional(Type.String()),
}, { additionalProperties: true });

/** Bound on the assignments one list answers (an effective list multiplies groups by members). */
const MAX_ASSIGNMENTS = 10_000;

async function roleOr404(db: Db, id: string): Promise<RoleRow> {
  const r = await getRole(db, id);
  if (!r) throw new NotFound(`Could not find role: ${id}.`);
  return r;
}

export function registerGrantRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  /** The users whose tokens a grant change affects. */
  async function affected(actor: ActorKind, actorId: string): Promise<string[]> {
    return actor === 'user' ? [actorId] : groupMemberIds(db, actorId);
  }

  async function grantOf(target: TargetKind, actor: ActorKind, inherited: boolean, p: Static<typeof GrantParams>): Promise<GrantRow> {
    const domainId = target === 'project' ? (await projectOr404(db, p.targetId)).domain_id : (await domainOr404(db, p.targetId)).id;
    if (actor === 'user') await userOr404(db, p.actorId);
    else await groupOr404(db, p.actorId);
    const role = await roleOr404(db, p.roleId);
    // Keystone's DomainSpecificRoleMismatch: a domain's own role is granted only within it.
    if (role.domain_id !== null && role.domain_id !== domainId) {
      throw new Forbidden(`Domain specific roles are not supported in the domain ${domainId}: role ${role.id} belongs to domain ${role.domain_id}.`);
    }
    return { actor_type: actor, actor_id: p.actorId, target_type: target, target_id: p.targetId, role_id: p.roleId, inherited: inherited ? 1 : 0 };
  }

  const missing = (g: GrantRow): NotFound =>
    new NotFound(`Could not find role assignment with role: ${g.role_id}, user or group: ${g.actor_id}, project, domain, or system: ${g.target_id}.`);

  function grantRoutes(base: string, target: TargetKind, actor: ActorKind, inherited: boolean): void {
    const one = `${base}/:roleId${inherited ? '/inherited_to_projects' : ''}`;
    const list = `${base}${inherited ? '/inherited_to_projects' : ''}`;
    app.put<{ Params: Static<typeof GrantParams> }>(one, { config: { policy: 'identity:create_grant' }, schema: { params: GrantParams } }, async (req, reply) => {
      const g = await grantOf(target, actor, inherited, req.params);
      await addGrant(db, g);
      for (const userId of await affected(actor, g.actor_id)) tokens.forget({ userId });
      reply.code(204).send();
    });
    // GET also answers HEAD: 204 when the grant exists.
    app.get<{ Params: Static<typeof GrantParams> }>(one, { config: { policy: 'identity:check_grant' }, schema: { params: GrantParams } }, async (req, reply) => {
      const g = await grantOf(target, actor, inherited, req.params);
      if (!(await hasGrant(db, g))) throw missing(g);
      reply.code(204).send();
    });
    app.delete<{ Params: Static<typeof GrantParams> }>(one, { config: { policy: 'identity:revoke_grant' }, schema: { params: GrantParams } }, async (req, reply) => {
      const g = await grantOf(target, actor, inherited, req.params);
      if (!(await removeGrant(db, g))) throw missing(g);
      for (const userId of await affected(actor, g.actor_id)) tokens.forget({ userId });
      reply.code(204).send();
    });
    app.get<{ Params: Static<typeof RoleListParams> }>(list, { config: { policy: 'identity:list_grants' }, schema: { params: RoleListParams } }, async (req) => {
      if (target === 'project') await projectOr404(db, req.params.targetId);
      else await domainOr404(db, req.params.targetId);
      if (actor === 'user') await userOr404(db, req.params.actorId);
      else await groupOr404(db, req.params.actorId);
      const grants = await listGrants(db, { actorType: actor, actorIds: [req.params.actorId], targetType: target, targetIds: [req.params.targetId], inherited });
      const roles = await listRoles(db, { ids: grants.map((g) => g.role_id) });
      return collection(req, 'roles', roles.map((r) => roleView(req, r)));
    });
  }

  grantRoutes('/v3/projects/:targetId/groups/:actorId/roles', 'project', 'group', false);
  grantRoutes('/v3/domains/:targetId/users/:actorId/roles', 'domain', 'user', false);
  grantRoutes('/v3/domains/:targetId/groups/:actorId/roles', 'domain', 'group', false);
  grantRoutes('/v3/OS-INHERIT/domains/:targetId/users/:actorId/roles', 'domain', 'user', true);
  grantRoutes('/v3/OS-INHERIT/domains/:targetId/groups/:actorId/roles', 'domain', 'group', true);
  grantRoutes('/v3/OS-INHERIT/projects/:targetId/users/:actorId/roles', 'project', 'user', true);
  grantRoutes('/v3/OS-INHERIT/projects/:targetId/groups/:actorId/roles', 'project', 'group', true);

  app.get<{ Querystring: Static<typeof AssignmentQuery> }>('/v3/role_assignments', {
    config: { policy: 'identity:list_role_assignments' }, schema: { querystring: AssignmentQuery },
  }, async (req) => {
    const q = req.query;
    const effective = queryBool(q.effective, 'effective') ?? false;
    const includeNames = queryBool(q.include_names, 'include_names') ?? false;
    // No system scope exists: a system filter matches nothing.
    let rows = q['scope.system'] !== undefined ? [] : await allAssignments(db);
    if (effective) rows = await expand(db, rows);
    // include_subtree: the project named and every project below it.
    const projectIds = new Set(q['scope.project.id'] === undefined ? [] : [q['scope.project.id']]);
    if (q['scope.project.id'] !== undefined && queryBool(q.include_subtree, 'include_subtree')) {
      for (const p of await projectDescendants(db, q['scope.project.id'])) projectIds.add(p.id);
    }
    rows = rows.filter((a) =>
      (q['user.id'] === undefined || (a.actor === 'user' && a.actorId === q['user.id']))
      && (q['group.id'] === undefined || (a.actor === 'group' && a.actorId === q['group.id']))
      && (q['role.id'] === undefined || a.roleId === q['role.id'])
      && (q['scope.project.id'] === undefined || (a.target === 'project' && projectIds.has(a.targetId)))
      && (q['scope.domain.id'] === undefined || (a.target === 'domain' && a.targetId === q['scope.domain.id']))
      && (q['scope.OS-INHERIT:inherited_to'] === undefined || a.inherited));
    if (rows.length > MAX_ASSIGNMENTS) rows = rows.slice(0, MAX_ASSIGNMENTS);
    const names = includeNames ? await namesFor(db, rows) : null;
    return collection(req, 'role_assignments', rows.map((a) => assignmentView(req, a, names)));
  });
}

/** One assignment as role_assignments shows it; `viaGroup` / `priorRole` / `inheritedFrom` for effective ones. */
interface Assignment {
  actor: ActorKind; actorId: string; target: TargetKind; targetId: string; roleId: string; inherited: boolean;
  viaGroup?: string; priorRole?: string;
  /** The domain or project an inherited grant is on. */
  inheritedFrom?: { kind: TargetKind; id: string };
}

async function allAssignments(db: Db): Promise<Assignment[]> {
  const direct: Assignment[] = (await listAssignments(db)).map((a) => ({
    actor: 'user', actorId: a.user_id, target: 'project', targetId: a.project_id, roleId: a.role_id, inherited: false,
  }));
  const grants: Assignment[] = (await listGrants(db)).map((g) => ({
    actor: g.actor_type, actorId: g.actor_id, target: g.target_type, targetId: g.target_id, roleId: g.role_id, inherited: g.inherited === 1,
  }));
  return [...direct, ...grants];
}

/**
 * Keystone's `effective`: group assignments become one per member, inherited domain grants one
 * per project of the domain, and each role also yields the roles it implies (transitively).
 */
async function expand(db: Db, rows: Assignment[]): Promise<Assignment[]> {
  const out: Assignment[] = [];
  const members = new Map<string, string[]>();
  const projectsOf = new Map<string, string[]>();
  for (const a of rows) {
    let users: Array<{ id: string; via?: string }> = [{ id: a.actorId }];
    if (a.actor === 'group') {
      if (!members.has(a.actorId)) members.set(a.actorId, await groupMemberIds(db, a.actorId));
      users = members.get(a.actorId)!.map((id) => ({ id, via: a.actorId }));
    }
    let targets: Array<{ kind: TargetKind; id: string; from?: { kind: TargetKind; id: string } }> = [{ kind: a.target, id: a.targetId }];
    if (a.inherited) {
      const key = `${a.target}:${a.targetId}`;
      if (!projectsOf.has(key)) {
        const below = a.target === 'domain' ? await listProjects(db, { domainId: a.targetId }) : await projectDescendants(db, a.targetId);
        projectsOf.set(key, below.map((p) => p.id));
      }
      targets = projectsOf.get(key)!.map((id) => ({ kind: 'project', id, from: { kind: a.target, id: a.targetId } }));
    }
    for (const u of users) {
      for (const t of targets) {
        out.push({
          actor: 'user', actorId: u.id, target: t.kind, targetId: t.id, roleId: a.roleId, inherited: false,
          ...(u.via !== undefined ? { viaGroup: u.via } : {}), ...(t.from !== undefined ? { inheritedFrom: t.from } : {}),
        });
        if (out.length > MAX_ASSIGNMENTS) return out;
      }
    }
  }
  const implies = new Map<string, string[]>();
  for (const r of await listImpliedRoles(db)) implies.set(r.prior_role_id, [...(implies.get(r.prior_role_id) ?? []), r.implied_role_id]);
  if (implies.size === 0) return out;
  const withImplied: Assignment[] = [];
  for (const a of out) {
    withImplied.push(a);
    const seen = new Set([a.roleId]);
    const queue = [a.roleId];
    while (queue.length > 0 && seen.size < 100) {
      for (const implied of implies.get(queue.shift()!) ?? []) {
        if (seen.has(implied)) continue;
        seen.add(implied);
        queue.push(implied);
        withImplied.push({ ...a, roleId: implied, priorRole: a.roleId });
      }
    }
    if (withImplied.length > MAX_ASSIGNMENTS) break;
  }
  return withImplied;
}

interface Names {
  users: Map<string, { name: string; domain_id: string }>;
  groups: Map<string, { name: string; domain_id: string }>;
  projects: Map<string, { name: string; domain_id: string }>;
  domains: Map<string, string>;
  roles: Map<string, { name: string; domain_id: string | null }>;
}

async function namesFor(db: Db, rows: Assignment[]): Promise<Names> {
  const ids = (pick: (a: Assignment) => string | null): string[] => [...new Set(rows.map(pick).filter((x): x is string => x !== null))];
  const users = await listUsers(db, { ids: ids((a) => (a.actor === 'user' ? a.actorId : null)) });
  const groups = await listGroups(db, { ids: ids((a) => (a.actor === 'group' ? a.actorId : null)) });
  const projects = await listProjects(db, { ids: ids((a) => (a.target === 'project' ? a.targetId : null)) });
  const domainIds = new Set([...users, ...groups, ...projects].map((x) => x.domain_id).concat(ids((a) => (a.target === 'domain' ? a.targetId : null))));
  return {
    users: new Map(users.map((u) => [u.id, { name: u.name, domain_id: u.domain_id }])),
    groups: new Map(groups.map((g) => [g.id, { name: g.name, domain_id: g.domain_id }])),
    projects: new Map(projects.map((p) => [p.id, { name: p.name, domain_id: p.domain_id }])),
    domains: new Map((await listDomains(db, { ids: [...domainIds] })).map((d) => [d.id, d.name])),
    roles: new Map((await listRoles(db, { ids: ids((a) => a.roleId) })).map((r) => [r.id, { name: r.name, domain_id: r.domain_id }])),
  };
}

function assignmentView(req: FastifyRequest, a: Assignment, names: Names | null): Record<string, unknown> {
  const actor: Record<string, unknown> = { id: a.actorId };
  const scope: Record<string, unknown> = { id: a.targetId };
  const role: Record<string, unknown> = { id: a.roleId };
  if (names) {
    const who = (a.actor === 'user' ? names.users : names.groups).get(a.actorId);
    if (who) Object.assign(actor, { name: who.name, domain: domainRef(who.domain_id, names.domains) });
    if (a.target === 'project') {
      const p = names.projects.get(a.targetId);
      if (p) Object.assign(scope, { name: p.name, domain: domainRef(p.domain_id, names.domains) });
    } else {
      scope.name = names.domains.get(a.targetId) ?? a.targetId;
    }
    const r = names.roles.get(a.roleId);
    if (r) {
      role.name = r.name;
      if (r.domain_id !== null) role.domain = domainRef(r.domain_id, names.domains);
    }
  }
  const prefix = a.inherited ? '/OS-INHERIT' : '';
  const suffix = a.inherited ? '/inherited_to_projects' : '';
  let assignment = v3Url(req, `${prefix}/${a.target}s/${a.targetId}/${a.actor}s/${a.actorId}/roles/${a.roleId}${suffix}`);
  if (a.viaGroup !== undefined || a.inheritedFrom !== undefined) {
    const actorPath = a.viaGroup !== undefined ? `groups/${a.viaGroup}` : `users/${a.actorId}`;
    assignment = a.inheritedFrom !== undefined
      ? v3Url(req, `/OS-INHERIT/${a.inheritedFrom.kind}s/${a.inheritedFrom.id}/${actorPath}/roles/${a.priorRole ?? a.roleId}/inherited_to_projects`)
      : v3Url(req, `/${a.target}s/${a.targetId}/${actorPath}/roles/${a.priorRole ?? a.roleId}`);
  }
  const links: Record<string, unknown> = { assignment };
  if (a.viaGroup !== undefined) links.membership = v3Url(req, `/groups/${a.viaGroup}/users/${a.actorId}`);
  if (a.priorRole !== undefined) links.prior_role = v3Url(req, `/roles/${a.priorRole}`);
  const view: Record<string, unknown> = { links, role, scope: { [a.target]: scope }, [a.actor]: actor };
  if (a.inherited) (view.scope as Record<string, unknown>)['OS-INHERIT:inherited_to'] = 'projects';
  return view;
}

