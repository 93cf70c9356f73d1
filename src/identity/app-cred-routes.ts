import { randomBytes } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ACCESS_RULE_METHODS, MAX_ACCESS_RULES, MAX_ACCESS_RULE_PATH, type AccessRule } from '../auth/access-rules.js';
import { hashPassword, passwordHashOptions } from '../auth/passwords.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import { listRoles } from '../db/identity.js';
import {
  countAppCreds, deleteAppCred, findAppCredByName, getAppCred, insertAppCred, listAppCreds, type AppCredRow,
} from '../db/identity-app-creds.js';
import { atomically } from '../db/transactions.js';
import type { IdentityAppOptions } from './options.js';
import { userOr404 } from './user-routes.js';
import { collection, v3Url } from './views.js';

/**
 * Application credentials (Keystone's): a user delegates some of its roles on the token's
 * project to a secret that automation holds. The secret is shown once, at create, and stored
 * only as its hash; the roles must be held by the creator on that project (a subset of the
 * token's); `expires_at` ends it; a restricted one (the default) cannot make more credentials;
 * `access_rules` limit it to some requests of some services (enforced by every API: httpkit).
 */

const RoleRef = Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()), domain_id: Type.Optional(Type.Union([Type.String(), Type.Null()])) });
const RuleBody = Type.Object({
  id: Type.Optional(Type.String({ maxLength: 64 })),
  service: Type.Optional(Type.String({ minLength: 1, maxLength: 64 })),
  method: Type.Optional(Type.String({ minLength: 1, maxLength: 16 })),
  path: Type.Optional(Type.String({ minLength: 1, maxLength: MAX_ACCESS_RULE_PATH })),
});
const CreateBody = Type.Object({
  application_credential: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 255 }),
    description: Type.Optional(Type.Union([Type.String({ maxLength: 65535 }), Type.Null()])),
    secret: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 4096 }), Type.Null()])),
    expires_at: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    roles: Type.Optional(Type.Array(RoleRef, { maxItems: 100 })),
    unrestricted: Type.Optional(Type.Boolean()),
    access_rules: Type.Optional(Type.Array(RuleBody, { maxItems: MAX_ACCESS_RULES })),
  }),
});
const UserParams = Type.Object({ userId: Type.String() });
const CredParams = Type.Object({ userId: Type.String(), credId: Type.String() });
const ListQuery = Type.Object({ name: Type.Optional(Type.String()) }, { additionalProperties: true });
const RuleParams = Type.Object({ userId: Type.String(), ruleId: Type.String() });
const RuleQuery = Type.Object({ service: Type.Optional(Type.String()), method: Type.Optional(Type.String()), path: Type.Optional(Type.String()) }, { additionalProperties: true });

const rulesOf = (c: AppCredRow): AccessRule[] => (c.access_rules === null ? [] : JSON.parse(c.access_rules) as AccessRule[]);

/** Bound on one user's credentials (Keystone has none; a process needs one). */
const MAX_APP_CREDS_PER_USER = 200;

export function registerAppCredRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, config, tokens } = opts;
  const hashing = passwordHashOptions(config);

  async function credOr404(userId: string, id: string): Promise<AppCredRow> {
    const c = await getAppCred(db, id);
    // Another user's credential looks exactly like none.
    if (!c || c.user_id !== userId) throw new NotFound(`Could not find Application Credential: ${id}.`);
    return c;
  }

  async function view(req: FastifyRequest, c: AppCredRow, secret?: string): Promise<Record<string, unknown>> {
    const roles = await listRoles(db, { ids: JSON.parse(c.roles) as string[] });
    return {
      id: c.id,
      name: c.name,
      description: c.description,
      project_id: c.project_id,
      user_id: c.user_id,
      expires_at: c.expires_at,
      unrestricted: c.unrestricted === 1,
      roles: roles.map((r) => ({ id: r.id, name: r.name, domain_id: r.domain_id })),
      access_rules: c.access_rules === null ? [] : JSON.parse(c.access_rules),
      ...(secret !== undefined ? { secret } : {}),
      links: { self: v3Url(req, `/users/${c.user_id}/application_credentials/${c.id}`) },
    };
  }

  app.post<{ Params: Static<typeof UserParams>; Body: Static<typeof CreateBody> }>('/v3/users/:userId/application_credentials', {
    config: { policy: 'identity:create_application_credential' }, schema: { params: UserParams, body: CreateBody },
  }, async (req, reply) => {
    const b = req.body.application_credential;
    const auth = req.auth;
    if (auth.userId !== req.params.userId) throw new Forbidden('You are not authorized to perform the requested action: identity:create_application_credential.');
    if (auth.applicationCredential && !auth.applicationCredential.unrestricted) {
      throw new Forbidden("Using method 'application_credential' is not allowed for managing additional application credentials.");
    }
    if (auth.projectId === null) throw new Forbidden('An application credential needs a project-scoped token.');
    await userOr404(db, req.params.userId);
    // Roles: a subset of the token's (what the creator holds on the project); all of them by default.
    const held = new Map(auth.roles.map((r) => [r.id, r]));
    const heldByName = new Map(auth.roles.map((r) => [r.name, r]));
    const roleIds: string[] = [];
    for (const ref of b.roles ?? auth.roles) {
      const r = ref.id !== undefined ? held.get(ref.id) : ref.name !== undefined ? heldByName.get(ref.name) : undefined;
      if (ref.id === undefined && ref.name === undefined) throw new BadRequest("Invalid input for field 'roles': a role needs an id or a name");
      if (r === undefined) throw new Forbidden(`Invalid application credential: the user does not hold the role ${ref.id ?? ref.name} on the project.`);
      if (!roleIds.includes(r.id)) roleIds.push(r.id);
    }
    let expiresAt: string | null = null;
    if (b.expires_at !== undefined && b.expires_at !== null) {
      const t = Date.parse(b.expires_at);
      if (Number.isNaN(t)) throw new BadRequest(`Invalid input for field 'expires_at': '${b.expires_at}' is not a date-time`);
      if (t <= Date.now()) throw new BadRequest('The expiration time of an application credential must be in the future.');
      expiresAt = new Date(t).toISOString();
    }
    // A rule given by id is one of the user's existing rules (Keystone's reuse of access rules).
    const existing = new Map((await listAppCreds(db, auth.userId)).flatMap((c) => rulesOf(c)).map((r) => [r.id, r]));
    const rules = b.access_rules === undefined ? null : b.access_rules.map((r): AccessRule => {
      if (r.id !== undefined && r.service === undefined && r.method === undefined && r.path === undefined) {
        const known = existing.get(r.id);
        if (!known) throw new NotFound(`Could not find access rule: ${r.id}.`);
        return known;
      }
      if (r.service === undefined || r.method === undefined || r.path === undefined) {
        throw new BadRequest("Invalid input for field 'access_rules': each rule needs service, method and path");
      }
      const method = r.method.toUpperCase();
      if (!ACCESS_RULE_METHODS.includes(method)) throw new BadRequest(`Invalid input for field 'access_rules': method ${r.method} is not one of ${ACCESS_RULE_METHODS.join(', ')}`);
      if (!r.path.startsWith('/')) throw new BadRequest("Invalid input for field 'access_rules': a path starts with /");
      // The same rule twice is one rule with one id, as Keystone deduplicates them per user.
      const same = [...existing.values()].find((x) => x.service === r.service && x.method === method && x.path === r.path);
      return same ?? { id: newHexId(), service: r.service, method, path: r.path };
    });
    const uniqueRules = rules === null ? null : [...new Map(rules.map((r) => [r.id, r])).values()];
    const secret = b.secret ?? randomBytes(48).toString('base64url');
    const row: AppCredRow = {
      id: newHexId(), name: b.name, user_id: auth.userId, project_id: auth.projectId, secret_hash: await hashPassword(secret, hashing),
      description: b.description ?? null, expires_at: expiresAt, unrestricted: b.unrestricted === true ? 1 : 0,
      roles: JSON.stringify(roleIds), access_rules: uniqueRules === null ? null : JSON.stringify(uniqueRules), created_at: now().toISOString(),
    };
    await atomically(db, async (tx) => {
      if (await findAppCredByName(tx, auth.userId, b.name)) throw new Conflict(`Conflict occurred attempting to store application_credential - Duplicate entry found with name ${b.name}.`);
      if ((await countAppCreds(tx, auth.userId)) >= MAX_APP_CREDS_PER_USER) throw new Forbidden(`A user keeps at most ${MAX_APP_CREDS_PER_USER} application credentials.`);
      await insertAppCred(tx, row);
    });
    reply.code(201);
    return { application_credential: await view(req, row, secret) };
  });

  app.get<{ Params: Static<typeof UserParams>; Querystring: Static<typeof ListQuery> }>('/v3/users/:userId/application_credentials', {
    config: { policy: 'identity:list_application_credentials' }, schema: { params: UserParams, querystring: ListQuery },
  }, async (req) => {
    await userOr404(db, req.params.userId);
    const rows = await listAppCreds(db, req.params.userId, { name: req.query.name });
    return collection(req, 'application_credentials', await Promise.all(rows.map((c) => view(req, c))));
  });

  app.get<{ Params: Static<typeof CredParams> }>('/v3/users/:userId/application_credentials/:credId', {
    config: { policy: 'identity:get_application_credential' }, schema: { params: CredParams },
  }, async (req) => {
    return { application_credential: await view(req, await credOr404(req.params.userId, req.params.credId)) };
  });

  // ---- access rules: the rules of the user's credentials (they live as long as a credential uses them)

  async function userRules(userId: string): Promise<Map<string, AccessRule>> {
    await userOr404(db, userId);
    return new Map((await listAppCreds(db, userId)).flatMap((c) => rulesOf(c)).map((r) => [r.id, r]));
  }
  const ruleView = (req: FastifyRequest, userId: string, r: AccessRule) => ({ ...r, links: { self: v3Url(req, `/users/${userId}/access_rules/${r.id}`) } });

  app.get<{ Params: Static<typeof UserParams>; Querystring: Static<typeof RuleQuery> }>('/v3/users/:userId/access_rules', {
    config: { policy: 'identity:list_access_rules' }, schema: { params: UserParams, querystring: RuleQuery },
  }, async (req) => {
    const q = req.query;
    const rules = [...(await userRules(req.params.userId)).values()]
      .filter((r) => (q.service === undefined || r.service === q.service) && (q.method === undefined || r.method === q.method) && (q.path === undefined || r.path === q.path));
    return collection(req, 'access_rules', rules.map((r) => ruleView(req, req.params.userId, r)));
  });

  app.get<{ Params: Static<typeof RuleParams> }>('/v3/users/:userId/access_rules/:ruleId', {
    config: { policy: 'identity:get_access_rule' }, schema: { params: RuleParams },
  }, async (req) => {
    const r = (await userRules(req.params.userId)).get(req.params.ruleId);
    if (!r) throw new NotFound(`Could not find access rule: ${req.params.ruleId}.`);
    return { access_rule: ruleView(req, req.params.userId, r) };
  });

  // Every stored rule belongs to a credential, and Keystone refuses to delete a rule in use.
  app.delete<{ Params: Static<typeof RuleParams> }>('/v3/users/:userId/access_rules/:ruleId', {
    config: { policy: 'identity:delete_access_rule' }, schema: { params: RuleParams },
  }, async (req) => {
    if (!(await userRules(req.params.userId)).has(req.params.ruleId)) throw new NotFound(`Could not find access rule: ${req.params.ruleId}.`);
    throw new Forbidden(`Cannot delete access rule ${req.params.ruleId}: it is in use by an application credential; delete the credential first.`);
  });

  app.delete<{ Params: Static<typeof CredParams> }>('/v3/users/:userId/application_credentials/:credId', {
    config: { policy: 'identity:delete_application_credential' }, schema: { params: CredParams },
  }, async (req, reply) => {
    const auth = req.auth;
    if (auth.applicationCredential && !auth.applicationCredential.unrestricted) {
      throw new Forbidden("Using method 'application_credential' is not allowed for managing additional application credentials.");
    }
    const c = await credOr404(req.params.userId, req.params.credId);
    await deleteAppCred(db, c.id);
    tokens.forget({ appCredId: c.id });
    reply.code(204).send();
  });
}
