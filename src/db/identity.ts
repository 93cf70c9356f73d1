import { sql, type Insertable, type Selectable, type Updateable } from 'kysely';
import type { Db } from './connection.js';
import { atomically } from './transactions.js';
import type { ProjectTable, RoleTable, TokenTable, UserTable } from './schema.js';
import { effectiveProjectIdsOfUser } from './identity-grants.js';

/**
 * The identity repository: projects, users, roles, role assignments and tokens.
 * Domains, groups and other grants: identity-domains.ts, identity-grants.ts (migration 012).
 */

export const DEFAULT_DOMAIN_ID = 'default';
export const DEFAULT_DOMAIN_NAME = 'Default';

export type ProjectRow = Selectable<ProjectTable>;
export type UserRow = Selectable<UserTable>;
export type RoleRow = Selectable<RoleTable>;
export type TokenRow = Selectable<TokenTable>;
export interface AssignmentRow { user_id: string; project_id: string; role_id: string }

// ---- projects

export async function getProject(db: Db, id: string): Promise<ProjectRow | null> {
  return (await db.selectFrom('projects').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function findProjectByName(db: Db, name: string, domainId: string): Promise<ProjectRow | null> {
  return (await db.selectFrom('projects').selectAll()
    .where('name', '=', name).where('domain_id', '=', domainId).executeTakeFirst()) ?? null;
}

export async function listProjects(db: Db, f: { name?: string; domainId?: string; enabled?: boolean; ids?: string[]; parentId?: string } = {}): Promise<ProjectRow[]> {
  let q = db.selectFrom('projects').selectAll();
  if (f.parentId !== undefined) q = q.where('parent_id', '=', f.parentId);
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId);
  if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled ? 1 : 0);
  if (f.ids !== undefined) {
    if (f.ids.length === 0) return [];
    q = q.where('id', 'in', f.ids);
  }
  return q.orderBy('name').orderBy('id').execute();
}

/** Keystone's `[resource] max_project_tree_depth` default: a domain's tree is at most this deep. */
export const MAX_PROJECT_DEPTH = 5;

/** A project's ancestors, nearest first (its domain excluded); bounded by the tree depth. */
export async function projectAncestors(db: Db, project: ProjectRow): Promise<ProjectRow[]> {
  const out: ProjectRow[] = [];
  let parentId = project.parent_id;
  while (parentId !== null && out.length <= MAX_PROJECT_DEPTH) {
    const parent = await getProject(db, parentId);
    if (!parent) break;
    out.push(parent);
    parentId = parent.parent_id;
  }
  return out;
}

/** A project's descendants, breadth first; bounded by the tree depth. */
export async function projectDescendants(db: Db, projectId: string): Promise<ProjectRow[]> {
  const out: ProjectRow[] = [];
  let level = [projectId];
  for (let depth = 0; level.length > 0 && depth <= MAX_PROJECT_DEPTH; depth++) {
    const children: ProjectRow[] = [];
    for (let i = 0; i < level.length; i += 500) {
      children.push(...await db.selectFrom('projects').selectAll().where('parent_id', 'in', level.slice(i, i + 500)).orderBy('name').execute());
    }
    out.push(...children);
    level = children.map((c) => c.id);
  }
  return out;
}

export async function insertProject(db: Db, row: Insertable<ProjectTable>): Promise<void> {
  await db.insertInto('projects').values(row).execute();
}

export async function updateProject(db: Db, id: string, changes: Updateable<ProjectTable>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('projects').set(changes).where('id', '=', id).execute();
}

/** Deletes a project with its role assignments and revokes the tokens scoped to it. */
export async function deleteProject(db: Db, id: string): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.deleteFrom('role_assignments').where('project_id', '=', id).execute();
    await tx.deleteFrom('grants').where('target_type', '=', 'project').where('target_id', '=', id).execute();
    await tx.deleteFrom('application_credentials').where('project_id', '=', id).execute();
    await tx.deleteFrom('project_tags').where('project_id', '=', id).execute();
    await tx.updateTable('tokens').set({ revoked: 1 }).where('project_id', '=', id).execute();
    await tx.deleteFrom('projects').where('id', '=', id).execute();
  });
}

// ---- users

export async function getUser(db: Db, id: string): Promise<UserRow | null> {
  return (await db.selectFrom('users').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function findUserByName(db: Db, name: string, domainId: string): Promise<UserRow | null> {
  return (await db.selectFrom('users').selectAll()
    .where('name', '=', name).where('domain_id', '=', domainId).executeTakeFirst()) ?? null;
}

export async function listUsers(db: Db, f: { name?: string; domainId?: string; enabled?: boolean; ids?: string[] } = {}): Promise<UserRow[]> {
  let q = db.selectFrom('users').selectAll();
  if (f.ids !== undefined) {
    if (f.ids.length === 0) return [];
    q = q.where('id', 'in', f.ids);
  }
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  if (f.domainId !== undefined) q = q.where('domain_id', '=', f.domainId);
  if (f.enabled !== undefined) q = q.where('enabled', '=', f.enabled ? 1 : 0);
  return q.orderBy('name').orderBy('id').execute();
}

export async function insertUser(db: Db, row: Insertable<UserTable>): Promise<void> {
  await db.insertInto('users').values(row).execute();
}

export async function updateUser(db: Db, id: string, changes: Updateable<UserTable>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('users').set(changes).where('id', '=', id).execute();
}

/**
 * Counts a password attempt against the user's lockout before the password is checked, in one
 * statement so that concurrent attempts (several API processes, many parallel guessers) can
 * never check more than `maxFailures` passwords per lockout: true when the attempt may go on;
 * false when the user is locked (or gone). An attempt made once a lockout has run out (its last
 * failure at or before `expiredBefore`) starts the count again, as Keystone's does. A success
 * resets the count (resetFailedAuth), so a correct login spends nothing.
 */
export async function claimPasswordAttempt(
  db: Db, userId: string, f: { at: string; maxFailures: number; expiredBefore: string | null },
): Promise<boolean> {
  const res = await db.updateTable('users')
    .set({
      failed_auth_count: sql<number>`CASE WHEN failed_auth_count >= ${f.maxFailures} THEN 1 ELSE failed_auth_count + 1 END`,
      failed_auth_at: f.at,
    })
    .where('id', '=', userId)
    .where((eb) => eb.or([
      eb('failed_auth_count', '<', f.maxFailures),
      eb('failed_auth_at', 'is', null),
      ...(f.expiredBefore === null ? [] : [eb('failed_auth_at', '<=', f.expiredBefore)]),
    ]))
    .executeTakeFirst();
  return Number(res.numUpdatedRows) === 1;
}

/** Forgets a user's failed password logins (a success, or an admin enabling the user). */
export async function resetFailedAuth(db: Db, userId: string): Promise<void> {
  await db.updateTable('users').set({ failed_auth_count: 0, failed_auth_at: null })
    .where('id', '=', userId).where('failed_auth_count', '>', 0).execute();
}

/** Deletes a user with its role assignments, memberships, application and EC2 credentials, and revokes its tokens. */
export async function deleteUser(db: Db, id: string): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.deleteFrom('role_assignments').where('user_id', '=', id).execute();
    await tx.deleteFrom('grants').where('actor_type', '=', 'user').where('actor_id', '=', id).execute();
    await tx.deleteFrom('group_members').where('user_id', '=', id).execute();
    await tx.deleteFrom('application_credentials').where('user_id', '=', id).execute();
    await tx.deleteFrom('credentials').where('user_id', '=', id).execute();
    await tx.updateTable('tokens').set({ revoked: 1 }).where('user_id', '=', id).execute();
    await tx.deleteFrom('users').where('id', '=', id).execute();
  });
}

// ---- roles

export async function getRole(db: Db, id: string): Promise<RoleRow | null> {
  return (await db.selectFrom('roles').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function findRoleByName(db: Db, name: string): Promise<RoleRow | null> {
  return (await db.selectFrom('roles').selectAll().where('name', '=', name).executeTakeFirst()) ?? null;
}

export async function listRoles(db: Db, f: { name?: string; ids?: string[] } = {}): Promise<RoleRow[]> {
  let q = db.selectFrom('roles').selectAll();
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  if (f.ids !== undefined) {
    if (f.ids.length === 0) return [];
    q = q.where('id', 'in', f.ids);
  }
  return q.orderBy('name').orderBy('id').execute();
}

export async function insertRole(db: Db, row: Insertable<RoleTable>): Promise<void> {
  await db.insertInto('roles').values(row).execute();
}

export async function updateRole(db: Db, id: string, changes: Updateable<RoleTable>): Promise<void> {
  if (Object.keys(changes).length === 0) return;
  await db.updateTable('roles').set(changes).where('id', '=', id).execute();
}

/**
 * Deletes a role and its assignments. Tokens of the users who held it are revoked, as
 * Keystone does, so nobody keeps authority through a cached role list.
 */
export async function deleteRole(db: Db, id: string): Promise<string[]> {
  return atomically(db, async (tx) => {
    const holders = await tx.selectFrom('role_assignments').select('user_id').distinct().where('role_id', '=', id).execute();
    const grants = await tx.selectFrom('grants').select(['actor_type', 'actor_id']).distinct().where('role_id', '=', id).execute();
    const groupIds = grants.filter((g) => g.actor_type === 'group').map((g) => g.actor_id);
    const members = groupIds.length === 0 ? [] : await tx.selectFrom('group_members').select('user_id').distinct().where('group_id', 'in', groupIds).execute();
    const userIds = [...new Set([...holders, ...members].map((h) => h.user_id).concat(grants.filter((g) => g.actor_type === 'user').map((g) => g.actor_id)))];
    await tx.deleteFrom('role_assignments').where('role_id', '=', id).execute();
    await tx.deleteFrom('grants').where('role_id', '=', id).execute();
    await tx.deleteFrom('implied_roles').where((e) => e.or([e('prior_role_id', '=', id), e('implied_role_id', '=', id)])).execute();
    if (userIds.length > 0) await tx.updateTable('tokens').set({ revoked: 1 }).where('user_id', 'in', userIds).execute();
    await tx.deleteFrom('roles').where('id', '=', id).execute();
    return userIds;
  });
}

// ---- role implications

export interface ImpliedRoleRow { prior_role_id: string; implied_role_id: string }

/** Every implication, or those of one prior role. */
export async function listImpliedRoles(db: Db, priorRoleId?: string): Promise<ImpliedRoleRow[]> {
  let q = db.selectFrom('implied_roles').selectAll();
  if (priorRoleId !== undefined) q = q.where('prior_role_id', '=', priorRoleId);
  return q.orderBy('prior_role_id').orderBy('implied_role_id').execute();
}

export async function hasImpliedRole(db: Db, row: ImpliedRoleRow): Promise<boolean> {
  const hit = await db.selectFrom('implied_roles').select('prior_role_id')
    .where('prior_role_id', '=', row.prior_role_id).where('implied_role_id', '=', row.implied_role_id).executeTakeFirst();
  return hit !== undefined;
}

/** Adds an implication; one that exists already is a no-op (PUT is idempotent). */
export async function addImpliedRole(db: Db, row: ImpliedRoleRow): Promise<void> {
  await atomically(db, async (tx) => {
    if (!(await hasImpliedRole(tx, row))) await tx.insertInto('implied_roles').values(row).execute();
  });
}

/** Removes an implication; false when there was none. */
export async function deleteImpliedRole(db: Db, row: ImpliedRoleRow): Promise<boolean> {
  const res = await db.deleteFrom('implied_roles')
    .where('prior_role_id', '=', row.prior_role_id).where('implied_role_id', '=', row.implied_role_id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

// ---- role assignments

/** Grants a role; granting one already held is a no-op (PUT is idempotent). */
export async function grantRole(db: Db, a: AssignmentRow): Promise<void> {
  await atomically(db, async (tx) => {
    const existing = await tx.selectFrom('role_assignments').select('role_id')
      .where('user_id', '=', a.user_id).where('project_id', '=', a.project_id).where('role_id', '=', a.role_id)
      .executeTakeFirst();
    if (!existing) await tx.insertInto('role_assignments').values(a).execute();
  });
}

/** Removes a role assignment and revokes the user's tokens on that project; false when there was none. */
export async function revokeRole(db: Db, a: AssignmentRow): Promise<boolean> {
  return atomically(db, async (tx) => {
    const res = await tx.deleteFrom('role_assignments')
      .where('user_id', '=', a.user_id).where('project_id', '=', a.project_id).where('role_id', '=', a.role_id)
      .executeTakeFirst();
    if (Number(res.numDeletedRows) === 0) return false;
    await tx.updateTable('tokens').set({ revoked: 1 })
      .where('user_id', '=', a.user_id).where('project_id', '=', a.project_id).execute();
    // Keystone deletes the user's application credentials on the project with the assignment.
    await tx.deleteFrom('application_credentials').where('user_id', '=', a.user_id).where('project_id', '=', a.project_id).execute();
    return true;
  });
}

export async function hasRole(db: Db, a: AssignmentRow): Promise<boolean> {
  const row = await db.selectFrom('role_assignments').select('role_id')
    .where('user_id', '=', a.user_id).where('project_id', '=', a.project_id).where('role_id', '=', a.role_id)
    .executeTakeFirst();
  return row !== undefined;
}

/** The roles a user holds on a project, by name. */
export async function rolesOn(db: Db, userId: string, projectId: string): Promise<RoleRow[]> {
  return db.selectFrom('role_assignments')
    .innerJoin('roles', 'roles.id', 'role_assignments.role_id')
    .select(['roles.id', 'roles.name', 'roles.domain_id'])
    .where('role_assignments.user_id', '=', userId)
    .where('role_assignments.project_id', '=', projectId)
    .orderBy('roles.name')
    .execute();
}

export async function listAssignments(db: Db, f: { userId?: string; projectId?: string; roleId?: string } = {}): Promise<AssignmentRow[]> {
  let q = db.selectFrom('role_assignments').selectAll();
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
  if (f.roleId !== undefined) q = q.where('role_id', '=', f.roleId);
  return q.orderBy('user_id').orderBy('project_id').orderBy('role_id').execute();
}

/** Projects on which a user holds at least one role (directly, through a group, or inherited from a domain). */
export async function projectsOfUser(db: Db, userId: string, f: { enabled?: boolean } = {}): Promise<ProjectRow[]> {
  return listProjects(db, { ids: await effectiveProjectIdsOfUser(db, userId), enabled: f.enabled });
}

// ---- project tags (Keystone keeps at most 80 per project, each up to 255 characters)

export async function tagsOf(db: Db, projectId: string): Promise<string[]> {
  return (await db.selectFrom('project_tags').select('tag').where('project_id', '=', projectId).orderBy('tag').execute()).map((r) => r.tag);
}

/** Tags of many projects at once (list views). */
export async function tagsOfProjects(db: Db, projectIds: string[]): Promise<Map<string, string[]>> {
  const out = new Map<string, string[]>();
  if (projectIds.length === 0) return out;
  for (let i = 0; i < projectIds.length; i += 500) {
    const rows = await db.selectFrom('project_tags').select(['project_id', 'tag']).where('project_id', 'in', projectIds.slice(i, i + 500)).orderBy('tag').execute();
    for (const r of rows) out.set(r.project_id, [...(out.get(r.project_id) ?? []), r.tag]);
  }
  return out;
}

/** Replaces a project's tags (PUT /tags, PATCH with tags). */
export async function setTags(db: Db, projectId: string, tags: string[]): Promise<void> {
  await atomically(db, async (tx) => {
    await tx.deleteFrom('project_tags').where('project_id', '=', projectId).execute();
    const unique = [...new Set(tags)];
    if (unique.length > 0) await tx.insertInto('project_tags').values(unique.map((tag) => ({ project_id: projectId, tag }))).execute();
  });
}

// ---- tokens
// Rows are keyed by the token's hash (see TokenTable.id): callers pass the hash, never the id.

export async function insertToken(db: Db, row: Insertable<TokenTable>): Promise<void> {
  await db.insertInto('tokens').values(row).execute();
}

export async function getToken(db: Db, hash: string): Promise<TokenRow | null> {
  return (await db.selectFrom('tokens').selectAll().where('id', '=', hash).executeTakeFirst()) ?? null;
}

export async function revokeToken(db: Db, hash: string): Promise<void> {
  await db.updateTable('tokens').set({ revoked: 1 }).where('id', '=', hash).execute();
}

/** Revokes every token of a user (optionally only those scoped to one project) or of a project. */
export async function revokeTokens(db: Db, f: { userId?: string; projectId?: string }): Promise<void> {
  if (f.userId === undefined && f.projectId === undefined) throw new Error('revokeTokens needs a user or a project');
  let q = db.updateTable('tokens').set({ revoked: 1 });
  if (f.userId !== undefined) q = q.where('user_id', '=', f.userId);
  if (f.projectId !== undefined) q = q.where('project_id', '=', f.projectId);
  await q.execute();
}

/** Deletes tokens that expired before `before` (ISO text compares in time order). */
export async function purgeExpiredTokens(db: Db, before: string): Promise<number> {
  const res = await db.deleteFrom('tokens').where('expires_at', '<', before).executeTakeFirst();
  return Number(res.numDeletedRows);
}
