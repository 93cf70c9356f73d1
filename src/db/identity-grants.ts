import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import { atomically } from './transactions.js';
import type { GrantTable } from './schema-identity.js';
import { projectAncestors, projectDescendants, type RoleRow } from './identity.js';

/**
 * Grants other than user-on-project (those stay in role_assignments) and the effective roles
 * they give: a user's roles on a project are its own, its groups', and those inherited from
 * grants on the project's domain (OS-INHERIT); on a domain, its own and its groups' on it.
 */

export type GrantRow = Selectable<GrantTable>;

export async function hasGrant(db: Db, g: GrantRow): Promise<boolean> {
  return (await db.selectFrom('grants').select('role_id')
    .where('actor_type', '=', g.actor_type).where('actor_id', '=', g.actor_id)
    .where('target_type', '=', g.target_type).where('target_id', '=', g.target_id)
    .where('role_id', '=', g.role_id).where('inherited', '=', g.inherited)
    .executeTakeFirst()) !== undefined;
}

/** Adds a grant; one held already is a no-op (PUT is idempotent). */
export async function addGrant(db: Db, g: GrantRow): Promise<void> {
  await atomically(db, async (tx) => {
    if (!(await hasGrant(tx, g))) await tx.insertInto('grants').values(g).execute();
  });
}

/** Removes a grant; false when there was none. */
export async function removeGrant(db: Db, g: GrantRow): Promise<boolean> {
  const res = await db.deleteFrom('grants')
    .where('actor_type', '=', g.actor_type).where('actor_id', '=', g.actor_id)
    .where('target_type', '=', g.target_type).where('target_id', '=', g.target_id)
    .where('role_id', '=', g.role_id).where('inherited', '=', g.inherited)
    .executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

export interface GrantFilter {
  actorType?: 'user' | 'group';
  actorIds?: string[];
  targetType?: 'project' | 'domain';
  targetIds?: string[];
  roleId?: string;
  inherited?: boolean;
}

export async function listGrants(db: Db, f: GrantFilter = {}): Promise<GrantRow[]> {
  let q = db.selectFrom('grants').selectAll();
  if (f.actorType !== undefined) q = q.where('actor_type', '=', f.actorType);
  if (f.actorIds !== undefined) {
    if (f.actorIds.length === 0) return [];
    q = q.where('actor_id', 'in', f.actorIds);
  }
  if (f.targetType !== undefined) q = q.where('target_type', '=', f.targetType);
  if (f.targetIds !== undefined) {
    if (f.targetIds.length === 0) return [];
    q = q.where('target_id', 'in', f.targetIds);
  }
  if (f.roleId !== undefined) q = q.where('role_id', '=', f.roleId);
  if (f.inherited !== undefined) q = q.where('inherited', '=', f.inherited ? 1 : 0);
  return q.orderBy('actor_type').orderBy('actor_id').orderBy('target_type').orderBy('target_id').orderBy('role_id').execute();
}

/** The roles of a list of grants, by id (unique, in name order). */
async function rolesOf(db: Db, roleIds: string[]): Promise<RoleRow[]> {
  const ids = [...new Set(roleIds)];
  if (ids.length === 0) return [];
  return db.selectFrom('roles').select(['id', 'name', 'domain_id']).where('id', 'in', ids).orderBy('name').orderBy('id').execute();
}

/** Every role a user holds on a project, directly, through a group, or inherited from the project's domain. */
export async function effectiveRolesOnProject(db: Db, userId: string, projectId: string): Promise<RoleRow[]> {
  const project = await db.selectFrom('projects').selectAll().where('id', '=', projectId).executeTakeFirst();
  if (!project) return [];
  // OS-INHERIT on a project gives the role on every project below it.
  const ancestorIds = (await projectAncestors(db, project)).map((p) => p.id);
  const direct = await db.selectFrom('role_assignments').select('role_id').where('user_id', '=', userId).where('project_id', '=', projectId).execute();
  const groups = (await db.selectFrom('group_members').select('group_id').where('user_id', '=', userId).execute()).map((r) => r.group_id);
  const viaGrants = await db.selectFrom('grants').select('role_id')
    .where((e) => e.or([
      e.and([e('actor_type', '=', 'user'), e('actor_id', '=', userId)]),
      ...(groups.length > 0 ? [e.and([e('actor_type', '=', 'group'), e('actor_id', 'in', groups)])] : []),
    ]))
    .where((e) => e.or([
      e.and([e('target_type', '=', 'project'), e('target_id', '=', projectId), e('inherited', '=', 0)]),
      e.and([e('target_type', '=', 'domain'), e('target_id', '=', project.domain_id), e('inherited', '=', 1)]),
      ...(ancestorIds.length > 0 ? [e.and([e('target_type', '=', 'project'), e('target_id', 'in', ancestorIds), e('inherited', '=', 1)])] : []),
    ]))
    .execute();
  return rolesOf(db, [...direct, ...viaGrants].map((r) => r.role_id));
}

/** Every role a user holds on a domain itself (a domain-scoped token's roles). */
export async function effectiveRolesOnDomain(db: Db, userId: string, domainId: string): Promise<RoleRow[]> {
  const groups = (await db.selectFrom('group_members').select('group_id').where('user_id', '=', userId).execute()).map((r) => r.group_id);
  const rows = await db.selectFrom('grants').select('role_id')
    .where((e) => e.or([
      e.and([e('actor_type', '=', 'user'), e('actor_id', '=', userId)]),
      ...(groups.length > 0 ? [e.and([e('actor_type', '=', 'group'), e('actor_id', 'in', groups)])] : []),
    ]))
    .where('target_type', '=', 'domain').where('target_id', '=', domainId).where('inherited', '=', 0)
    .execute();
  return rolesOf(db, rows.map((r) => r.role_id));
}

/** Projects a user holds any role on, by any route (direct, group, inherited from a domain). */
export async function effectiveProjectIdsOfUser(db: Db, userId: string): Promise<string[]> {
  const ids = new Set((await db.selectFrom('role_assignments').select('project_id').where('user_id', '=', userId).execute()).map((r) => r.project_id));
  const groups = (await db.selectFrom('group_members').select('group_id').where('user_id', '=', userId).execute()).map((r) => r.group_id);
  const grants = await db.selectFrom('grants').select(['target_type', 'target_id', 'inherited'])
    .where((e) => e.or([
      e.and([e('actor_type', '=', 'user'), e('actor_id', '=', userId)]),
      ...(groups.length > 0 ? [e.and([e('actor_type', '=', 'group'), e('actor_id', 'in', groups)])] : []),
    ]))
    .execute();
  const domains: string[] = [];
  for (const g of grants) {
    if (g.target_type === 'project' && g.inherited === 0) ids.add(g.target_id);
    if (g.target_type === 'domain' && g.inherited === 1) domains.push(g.target_id);
    if (g.target_type === 'project' && g.inherited === 1) for (const p of await projectDescendants(db, g.target_id)) ids.add(p.id);
  }
  if (domains.length > 0) {
    for (const p of await db.selectFrom('projects').select('id').where('domain_id', 'in', domains).execute()) ids.add(p.id);
  }
  return [...ids];
}

/** Domains a user holds any role on (what a domain-scoped token may be scoped to). */
export async function effectiveDomainIdsOfUser(db: Db, userId: string): Promise<string[]> {
  const groups = (await db.selectFrom('group_members').select('group_id').where('user_id', '=', userId).execute()).map((r) => r.group_id);
  const rows = await db.selectFrom('grants').select('target_id').distinct()
    .where((e) => e.or([
      e.and([e('actor_type', '=', 'user'), e('actor_id', '=', userId)]),
      ...(groups.length > 0 ? [e.and([e('actor_type', '=', 'group'), e('actor_id', 'in', groups)])] : []),
    ]))
    .where('target_type', '=', 'domain').where('inherited', '=', 0)
    .execute();
  return rows.map((r) => r.target_id);
}
