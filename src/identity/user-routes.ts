import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { hashPassword, passwordHashOptions } from '../auth/passwords.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  DEFAULT_DOMAIN_ID, deleteUser, findUserByName, getProject, getUser, insertUser, listUsers, projectsOfUser, updateUser,
  type UserRow,
} from '../db/identity.js';
import { atomically } from '../db/transactions.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import { domainForCreate } from './domains.js';
import { deleteAppCredsOf } from '../db/identity-app-creds.js';
import { extraOf } from './extra.js';
import { applyStringFilters } from './list-filters.js';
import type { PasswordAuthenticator } from './password-auth.js';
import { collection, projectView, userView } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 255 });
const Nullable = <T extends ReturnType<typeof Type.String>>(t: T) => Type.Union([t, Type.Null()]);
const Password = Type.String({ maxLength: 4096 });

const UserFields = {
  password: Type.Optional(Nullable(Password)),
  domain_id: Type.Optional(Type.String()),
  enabled: Type.Optional(Type.Boolean()),
  default_project_id: Type.Optional(Nullable(Type.String())),
  email: Type.Optional(Nullable(Type.String({ maxLength: 255 }))),
  description: Type.Optional(Nullable(Type.String({ maxLength: 65535 }))),
  options: Type.Optional(Type.Object({
    ignore_change_password_upon_first_use: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    ignore_password_expiry: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    ignore_lockout_failure_attempts: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    lock_password: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    ignore_user_inactivity: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    multi_factor_auth_enabled: Type.Optional(Type.Union([Type.Boolean(), Type.Null()])),
    multi_factor_auth_rules: Type.Optional(Type.Union([Type.Array(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 10 }), { maxItems: 10 }), Type.Null()])),
  }, { additionalProperties: false })),
};
/** The body fields with a column (or `options`); every other one is kept as an extra attribute. */
const KNOWN = new Set(['name', 'password', 'domain_id', 'enabled', 'default_project_id', 'email', 'description', 'options', 'id', 'links', 'password_expires_at']);

/** Keystone's options: a null value removes the option. */
function mergeOptions(current: string, given: Record<string, unknown> | undefined): string {
  const out = Object.assign(Object.create(null) as Record<string, unknown>, JSON.parse(current) as Record<string, unknown>);
  for (const [k, v] of Object.entries(given ?? {})) {
    if (v === null) delete out[k];
    else out[k] = v;
  }
  return JSON.stringify(out);
}
const CreateBody = Type.Object({ user: Type.Object({ name: Name, ...UserFields }) });
const UpdateBody = Type.Object({ user: Type.Object({ name: Type.Optional(Name), ...UserFields }) });
const PasswordBody = Type.Object({
  user: Type.Object({ password: Password, original_password: Password }),
});
const ListQuery = Type.Object({
  name: Type.Optional(Type.String()),
  domain_id: Type.Optional(Type.String()),
  enabled: Type.Optional(Type.String()),
}, { additionalProperties: true });
const IdParams = Type.Object({ userId: Type.String() });

export async function userOr404(db: Db, id: string): Promise<UserRow> {
  const u = await getUser(db, id);
  if (!u) throw new NotFound(`Could not find user: ${id}.`);
  return u;
}

const duplicate = (name: string, domainId: string): Conflict =>
  new Conflict(`Conflict occurred attempting to store user - Duplicate entry found with name ${name} at domain ID ${domainId}.`);

export function registerUserRoutes(app: FastifyInstance, opts: IdentityAppOptions, passwords: PasswordAuthenticator): void {
  const { db, config, tokens } = opts;
  const hashing = passwordHashOptions(config);

  /** An empty hash matches no password: a user created without one cannot authenticate. */
  const hashOf = async (password: string | null | undefined): Promise<string> =>
    password === undefined || password === null ? '' : hashPassword(password, hashing);

  async function checkRefs(u: { default_project_id?: string | null }): Promise<void> {
    if (u.default_project_id !== undefined && u.default_project_id !== null && !(await getProject(db, u.default_project_id))) {
      throw new BadRequest(`Could not find project: ${u.default_project_id}.`);
    }
  }

  const mayRead = (req: FastifyRequest, userId: string): boolean => req.auth.isAdmin || req.auth.userId === userId;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/users', {
    config: { policy: 'identity:list_users' }, schema: { querystring: ListQuery },
  }, async (req) => {
    const rows = await listUsers(db, {
      name: req.query.name, domainId: req.query.domain_id, enabled: queryBool(req.query.enabled, 'enabled'),
    });
    const filtered = applyStringFilters(rows, req.query, { name: (u: UserRow) => u.name, email: (u: UserRow) => u.email, description: (u: UserRow) => u.description });
    return collection(req, 'users', filtered.map((u) => userView(req, u)));
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/users', {
    config: { policy: 'identity:create_user' }, schema: { body: CreateBody },
  }, async (req, reply) => {
    const u = req.body.user;
    await checkRefs(u);
    const domain = await domainForCreate(db, u.domain_id, req.auth.domainId ?? DEFAULT_DOMAIN_ID);
    const row: UserRow = {
      id: newHexId(), name: u.name, domain_id: domain.id, password_hash: await hashOf(u.password),
      options: mergeOptions('{}', u.options), extra: extraOf(u as Record<string, unknown>, KNOWN),
      enabled: u.enabled === false ? 0 : 1, default_project_id: u.default_project_id ?? null,
      email: u.email ?? null, description: u.description ?? null, created_at: now().toISOString(),
      failed_auth_count: 0, failed_auth_at: null,
    };
    await atomically(db, async (tx) => {
      if (await findUserByName(tx, u.name, domain.id)) throw duplicate(u.name, domain.id);
      await insertUser(tx, row);
    });
    reply.code(201);
    return { user: userView(req, row) };
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v3/users/:userId', { config: { policy: 'identity:get_user' }, schema: { params: IdParams } }, async (req) => {
    if (!mayRead(req, req.params.userId)) throw new Forbidden('You are not authorized to perform the requested action: identity:get_user.');
    return { user: userView(req, await userOr404(db, req.params.userId)) };
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>('/v3/users/:userId', {
    config: { policy: 'identity:update_user' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const id = req.params.userId;
    const u = req.body.user;
    await checkRefs(u);
    const passwordHash = u.password !== undefined ? await hashOf(u.password) : undefined;
    const updated = await atomically(db, async (tx) => {
      const current = await userOr404(tx, id);
      if (u.domain_id !== undefined && u.domain_id !== current.domain_id) throw new BadRequest('Cannot change the domain of a user.');
      if (u.name !== undefined && u.name !== current.name && (await findUserByName(tx, u.name, current.domain_id))) throw duplicate(u.name, current.domain_id);
      const changes: Partial<UserRow> = {
        options: mergeOptions(current.options, u.options), extra: extraOf(u as Record<string, unknown>, KNOWN, current.extra),
      };
      if (u.name !== undefined) changes.name = u.name;
      if (passwordHash !== undefined) changes.password_hash = passwordHash;
      if (u.enabled !== undefined) changes.enabled = u.enabled ? 1 : 0;
      // Enabling a user unlocks it, as Keystone's does: the way out of a lockout without a duration.
      if (u.enabled === true) Object.assign(changes, { failed_auth_count: 0, failed_auth_at: null });
      if (u.default_project_id !== undefined) changes.default_project_id = u.default_project_id;
      if (u.email !== undefined) changes.email = u.email;
      if (u.description !== undefined) changes.description = u.description;
      await updateUser(tx, id, changes);
      // Keystone: disabling a user deletes its application credentials.
      if (u.enabled === false) await deleteAppCredsOf(tx, id);
      return { ...current, ...changes };
    });
    // A disabled user, or one whose password changed, keeps no live tokens.
    if (updated.enabled === 0 || passwordHash !== undefined) await tokens.revokeWhere({ userId: id });
    return { user: userView(req, updated) };
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v3/users/:userId', {
    config: { policy: 'identity:delete_user' }, schema: { params: IdParams },
  }, async (req, reply) => {
    await userOr404(db, req.params.userId);
    await deleteUser(db, req.params.userId);
    tokens.forget({ userId: req.params.userId });
    reply.code(204).send();
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v3/users/:userId/projects', { config: { policy: 'identity:list_user_projects' }, schema: { params: IdParams } }, async (req) => {
    if (!mayRead(req, req.params.userId)) throw new Forbidden('You are not authorized to perform the requested action: identity:list_user_projects.');
    await userOr404(db, req.params.userId);
    const rows = await projectsOfUser(db, req.params.userId);
    return collection(req, 'projects', rows.map((p) => projectView(req, p)));
  });

  // Self-service password change (`openstack user password set`); it revokes the user's tokens.
  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof PasswordBody> }>('/v3/users/:userId/password', {
    config: { policy: 'identity:change_password' }, schema: { params: IdParams, body: PasswordBody },
  }, async (req, reply) => {
    const id = req.params.userId;
    if (req.auth.userId !== id) throw new Forbidden('You are not authorized to perform the requested action: identity:change_password.');
    const user = await userOr404(db, id);
    if ((JSON.parse(user.options) as Record<string, unknown>).lock_password === true) {
      throw new Forbidden('You are not allowed to change your password: it is locked (the lock_password option).');
    }
    // The original password is a password login like any other: limited, queued, counted for lockout.
    await passwords.authenticate(req.ip, () => getUser(db, id), req.body.user.original_password);
    await updateUser(db, id, { password_hash: await hashOf(req.body.user.password) });
    await tokens.revokeWhere({ userId: id });
    reply.code(204).send();
  });
}
