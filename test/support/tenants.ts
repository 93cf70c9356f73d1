import type { TokenService } from '../../src/auth/tokens.js';
import { newHexId } from '../../src/common/ids.js';
import type { Db } from '../../src/db/connection.js';
import { addImpliedRole, grantRole, insertProject, insertRole, insertUser } from '../../src/db/identity.js';
import { api, type Session } from './http.js';
import type { RunningCloud } from '../../src/cmd/cloud.js';
import { login } from './cloud.js';

export interface Tenants {
  roles: { admin: string; member: string; reader: string };
  projects: { admin: string; alpha: string; beta: string };
  /** "admin", with the admin role on the admin project. */
  admin: Session;
  /** "alice", a member of alpha. */
  member: Session;
  /** "amy", a second member of alpha. */
  peer: Session;
  /** "bob", a member of beta: another project. */
  other: Session;
  /** "rita", with only the reader role on alpha. */
  reader: Session;
}

/** Identity rows written straight to the database, with a real token for each user. */
export async function seedTenants(db: Db, tokens: TokenService): Promise<Tenants> {
  const ts = new Date().toISOString();
  const roles = { admin: newHexId(), member: newHexId(), reader: newHexId() };
  await insertRole(db, { id: roles.admin, name: 'admin', domain_id: null });
  await insertRole(db, { id: roles.member, name: 'member', domain_id: null });
  await insertRole(db, { id: roles.reader, name: 'reader', domain_id: null });
  // As Keystone's bootstrap: admin implies member implies reader.
  await addImpliedRole(db, { prior_role_id: roles.admin, implied_role_id: roles.member });
  await addImpliedRole(db, { prior_role_id: roles.member, implied_role_id: roles.reader });
  const projects = { admin: newHexId(), alpha: newHexId(), beta: newHexId() };
  for (const [name, id] of Object.entries(projects)) {
    await insertProject(db, { id, name, domain_id: 'default', description: '', enabled: 1, is_domain: 0, parent_id: null, created_at: ts });
  }
  const user = async (name: string, projectId: string, role: string): Promise<Session> => {
    const userId = newHexId();
    await insertUser(db, {
      id: userId, name, domain_id: 'default', password_hash: 'x', enabled: 1, default_project_id: projectId, email: null, description: null, created_at: ts,
    });
    await grantRole(db, { user_id: userId, project_id: projectId, role_id: role });
    const ctx = await tokens.issue(userId, projectId);
    return { token: ctx.tokenId, userId, projectId };
  };
  return {
    roles,
    projects,
    admin: await user('admin', projects.admin, roles.admin),
    member: await user('alice', projects.alpha, roles.member),
    peer: await user('amy', projects.alpha, roles.member),
    other: await user('bob', projects.beta, roles.member),
    reader: await user('rita', projects.alpha, roles.reader),
  };
}

/**
 * A new user of a running cloud with exactly one role (`reader` or `member`) on an existing
 * project, made through the identity API, logged in to that project.
 */
export async function userWithRole(
  cloud: RunningCloud, admin: Session, opts: { project: string; user: string; role: 'reader' | 'member' | 'admin'; password?: string },
): Promise<Session> {
  const c = cloud.urls;
  const password = opts.password ?? 'pw';
  const project = await api(admin, 'GET', `${c.identity}/v3/projects?name=${encodeURIComponent(opts.project)}`);
  const projectId = project.body.projects?.[0]?.id;
  if (!projectId) throw new Error(`no project ${opts.project}`);
  const u = await api(admin, 'POST', `${c.identity}/v3/users`, { user: { name: opts.user, password, domain_id: 'default' } });
  const role = await api(admin, 'GET', `${c.identity}/v3/roles?name=${opts.role}`);
  const grant = await api(admin, 'PUT', `${c.identity}/v3/projects/${projectId}/users/${u.body.user.id}/roles/${role.body.roles[0].id}`);
  if (grant.status !== 204) throw new Error(`could not give ${opts.user} the ${opts.role} role on ${opts.project}: ${grant.status}`);
  return login(cloud, opts.user, password, opts.project);
}
