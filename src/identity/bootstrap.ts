import { hashPassword, needsRehash, passwordHashOptions, verifyPassword, type PasswordHashOptions } from '../auth/passwords.js';
import type { Config } from '../common/config.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  addImpliedRole, DEFAULT_DOMAIN_ID, findProjectByName, findRoleByName, findUserByName, grantRole, insertProject, insertRole, insertUser,
  updateUser, type ProjectRow, type RoleRow, type UserRow,
} from '../db/identity.js';
import { atomically } from '../db/transactions.js';

/** The roles Keystone's bootstrap creates (admin implies member implies reader). */
export const BOOTSTRAP_ROLES = ['admin', 'member', 'reader'] as const;

/**
 * Makes sure the roles, the admin user and project, and the service user and project exist,
 * as `keystone-manage bootstrap` does. Idempotent; runs at every start. The configured
 * passwords win: a user whose stored password differs gets the configured one again, and so
 * does one whose hash has another algorithm or cost than configured (after an upgrade).
 */
export async function bootstrapIdentity(db: Db, config: Config): Promise<void> {
  const hashing = passwordHashOptions(config);
  const roles = new Map<string, RoleRow>();
  for (const name of BOOTSTRAP_ROLES) roles.set(name, await ensureRole(db, name));
  const admin = roles.get('admin')!;
  // Keystone's bootstrap: admin implies member implies reader (the default rules rely on it).
  await addImpliedRole(db, { prior_role_id: admin.id, implied_role_id: roles.get('member')!.id });
  await addImpliedRole(db, { prior_role_id: roles.get('member')!.id, implied_role_id: roles.get('reader')!.id });

  const adminProject = await ensureProject(db, config.str('identity', 'admin_project'), 'Bootstrap project for initializing the cloud.');
  const adminUser = await ensureUser(db, hashing, config.str('identity', 'admin_user'), config.str('identity', 'admin_password'));
  await grantRole(db, { user_id: adminUser.id, project_id: adminProject.id, role_id: admin.id });

  const serviceProject = await ensureProject(db, config.str('service_user', 'project_name'), 'Project of the service users.');
  const serviceUser = await ensureUser(db, hashing, config.str('service_user', 'username'), config.str('service_user', 'password'));
  await grantRole(db, { user_id: serviceUser.id, project_id: serviceProject.id, role_id: admin.id });
}

async function ensureRole(db: Db, name: string): Promise<RoleRow> {
  return atomically(db, async (tx) => {
    const existing = await findRoleByName(tx, name);
    if (existing) return existing;
    const row = { id: newHexId(), name, domain_id: null };
    await insertRole(tx, row);
    return row;
  });
}

async function ensureProject(db: Db, name: string, description: string): Promise<ProjectRow> {
  return atomically(db, async (tx) => {
    const existing = await findProjectByName(tx, name, DEFAULT_DOMAIN_ID);
    if (existing) return existing;
    const row: ProjectRow = {
      id: newHexId(), name, domain_id: DEFAULT_DOMAIN_ID, description, enabled: 1, is_domain: 0, parent_id: null,
      created_at: now().toISOString(), extra: '{}',
    };
    await insertProject(tx, row);
    return row;
  });
}

async function ensureUser(db: Db, hashing: PasswordHashOptions, name: string, password: string): Promise<UserRow> {
  const existing = await findUserByName(db, name, DEFAULT_DOMAIN_ID);
  if (existing) {
    const stale = existing.enabled !== 1 || needsRehash(existing.password_hash, hashing);
    if (stale || !(await verifyPassword(password, existing.password_hash))) {
      await updateUser(db, existing.id, { enabled: 1, password_hash: await hashPassword(password, hashing) });
    }
    return existing;
  }
  const hash = await hashPassword(password, hashing);
  return atomically(db, async (tx) => {
    const raced = await findUserByName(tx, name, DEFAULT_DOMAIN_ID);
    if (raced) return raced;
    const row: UserRow = {
      id: newHexId(), name, domain_id: DEFAULT_DOMAIN_ID, password_hash: hash, enabled: 1, default_project_id: null,
      email: null, description: null, created_at: now().toISOString(), failed_auth_count: 0, failed_auth_at: null,
      options: '{}', extra: '{}',
    };
    await insertUser(tx, row);
    return row;
  });
}
