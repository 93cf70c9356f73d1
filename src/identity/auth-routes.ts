import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import { BadRequest, Forbidden, NotFound, OrreryError, Unauthorized } from '../common/errors.js';
import {
  findProjectByName, findUserByName, getProject, getUser, projectsOfUser, type ProjectRow, type UserRow,
} from '../db/identity.js';
import { findAppCredByName, getAppCred, type AppCredRow } from '../db/identity-app-creds.js';
import { listDomains } from '../db/identity-domains.js';
import { effectiveDomainIdsOfUser, effectiveRolesOnProject } from '../db/identity-grants.js';
import { authDomain, enabledAuthDomain } from './domains.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import type { PasswordAuthenticator } from './password-auth.js';
import { collection, domainView, projectView, tokenBody } from './views.js';
import { authorize } from '../httpkit/authorize.js';

const DomainRef = Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()) });

const AuthBody = Type.Object({
  auth: Type.Object({
    identity: Type.Object({
      methods: Type.Array(Type.String(), { minItems: 1, examples: [['password']] }),
      password: Type.Optional(Type.Object({
        user: Type.Object({
          id: Type.Optional(Type.String()),
          name: Type.Optional(Type.String()),
          password: Type.String(),
          domain: Type.Optional(DomainRef),
        }),
      })),
      token: Type.Optional(Type.Object({ id: Type.String() })),
      application_credential: Type.Optional(Type.Object({
        id: Type.Optional(Type.String()),
        name: Type.Optional(Type.String()),
        secret: Type.String({ maxLength: 4096 }),
        user: Type.Optional(Type.Object({ id: Type.Optional(Type.String()), name: Type.Optional(Type.String()), domain: Type.Optional(DomainRef) })),
      })),
    }),
    scope: Type.Optional(Type.Union([
      Type.Literal('unscoped'),
      Type.Object({
        project: Type.Optional(Type.Object({
          id: Type.Optional(Type.String()),
          name: Type.Optional(Type.String()),
          domain: Type.Optional(DomainRef),
        })),
        domain: Type.Optional(DomainRef),
        system: Type.Optional(Type.Unknown()),
      }),
    ])),
  }),
});
type AuthBody = Static<typeof AuthBody>;

const TokenQuery = Type.Object({ nocatalog: Type.Optional(Type.String()) }, { additionalProperties: true });

const unauthorized = (): Unauthorized => new Unauthorized('The request you have made requires authentication.');


export function registerAuthRoutes(app: FastifyInstance, opts: IdentityAppOptions, passwords: PasswordAuthenticator): void {
  const { db, tokens } = opts;

  /** Who is authenticating: by password, or by an existing token (re-scoping), which is then the new token's parent. */
  /** A user by id, or by name within a domain given by id or name (an unknown or disabled domain finds nobody). */
  async function findUser(u: { id?: string; name?: string; domain?: { id?: string; name?: string } }, field: string): Promise<UserRow | null> {
    if (u.id !== undefined) return getUser(db, u.id);
    if (u.name === undefined) throw new BadRequest(`Invalid input for field '${field}': an id or a name is required`);
    const domain = await authDomain(db, u.domain);
    return domain === null || domain.enabled !== 1 ? null : findUserByName(db, u.name, domain.id);
  }

  async function identify(req: FastifyRequest<{ Body: AuthBody }>): Promise<{ user: UserRow; parent?: AuthContext; cred?: AppCredRow }> {
    const { methods, password, token, application_credential: appCred } = req.body.auth.identity;
    if (methods.includes('password')) {
      if (!password) throw new BadRequest("Invalid input for field 'identity.password': required by method 'password'");
      const u = password.user;
      if (u.id === undefined && u.name === undefined) throw new BadRequest("Invalid input for field 'identity.password.user': an id or a name is required");
      return { user: await passwords.authenticate(req.ip, () => findUser(u, 'identity.password.user'), u.password) };
    }
    if (methods.includes('application_credential')) {
      if (!appCred) throw new BadRequest("Invalid input for field 'identity.application_credential': required by method 'application_credential'");
      if (appCred.id === undefined && (appCred.name === undefined || appCred.user === undefined)) {
        throw new BadRequest("Invalid input for field 'identity.application_credential': an id, or a name and a user, is required");
      }
      const find = async (): Promise<{ hash: string; value: AppCredRow } | null> => {
        let cred: AppCredRow | null;
        if (appCred.id !== undefined) cred = await getAppCred(db, appCred.id);
        else {
          const owner = await findUser(appCred.user!, 'identity.application_credential.user');
          cred = owner === null ? null : await findAppCredByName(db, owner.id, appCred.name!);
        }
        return cred === null ? null : { hash: cred.secret_hash, value: cred };
      };
      const cred = await passwords.authenticateSecret(req.ip, find, appCred.secret);
      if (cred.expires_at !== null && Date.parse(cred.expires_at) <= Date.now()) throw unauthorized();
      const user = await getUser(db, cred.user_id);
      if (!user || user.enabled !== 1) throw unauthorized();
      return { user, cred };
    }
    if (methods.includes('token')) {
      if (!token) throw new BadRequest("Invalid input for field 'identity.token': required by method 'token'");
      const parent = await tokens.validate(token.id);
      // A credential's token cannot be traded for another (it would shed the credential's limits).
      if (parent.applicationCredential) throw new Forbidden('A token issued by an application credential cannot be used to obtain another token.');
      const user = await getUser(db, parent.userId);
      if (!user) throw unauthorized();
      return { user, parent };
    }
    throw new Unauthorized(`Attempted to authenticate with an unsupported method: ${methods.join(', ')}`);
  }

  /** The project or domain to scope to: explicit, or the user's default project, or none. */
  async function scopeOf(body: AuthBody, user: UserRow): Promise<{ projectId: string | null; domainId?: string }> {
    const scope = body.auth.scope;
    if (scope === 'unscoped') return { projectId: null };
    if (scope === undefined) {
      if (user.default_project_id === null) return { projectId: null };
      const p = await getProject(db, user.default_project_id);
      if (!p || p.enabled !== 1) return { projectId: null };
      return { projectId: (await effectiveRolesOnProject(db, user.id, p.id)).length > 0 ? p.id : null };
    }
    if (scope.project !== undefined) {
      const ref = scope.project;
      let project: ProjectRow | null;
      if (ref.id !== undefined) project = await getProject(db, ref.id);
      else if (ref.name !== undefined) {
        const domain = await authDomain(db, ref.domain);
        project = domain === null ? null : await findProjectByName(db, ref.name, domain.id);
      } else throw new BadRequest("Invalid input for field 'scope.project': an id or a name is required");
      if (!project) throw unauthorized();
      return { projectId: project.id };
    }
    if (scope.domain !== undefined) return { projectId: null, domainId: (await enabledAuthDomain(db, scope.domain)).id };
    // No system scope exists: nobody holds a role on the system.
    if (scope.system !== undefined) throw unauthorized();
    throw new BadRequest("Invalid input for field 'scope': a project, domain or system is required");
  }

  const catalogUnless = (q: { nocatalog?: string }) => (queryBool(q.nocatalog, 'nocatalog') ? null : opts.catalog());

  app.post<{ Body: AuthBody; Querystring: Static<typeof TokenQuery> }>('/v3/auth/tokens', {
    config: { public: true },
    schema: { body: AuthBody, querystring: TokenQuery },
  }, async (req, reply) => {
    const { user, parent, cred } = await identify(req);
    let ctx: AuthContext;
    if (cred) {
      // A credential's token is scoped to the credential's project, and only to it (Keystone).
      if (req.body.auth.scope !== undefined) throw new Unauthorized('An application credential token cannot request a scope.');
      ctx = await tokens.issue(user.id, cred.project_id, undefined, { appCredId: cred.id });
    } else {
      const scope = await scopeOf(req.body, user);
      ctx = await tokens.issue(user.id, scope.projectId, parent, { domainId: scope.domainId ?? null });
    }
    reply.code(201).header('x-subject-token', ctx.tokenId);
    return tokenBody(ctx, catalogUnless(req.query));
  });

  /** The token named by X-Subject-Token, if the caller may see it: its own, or any for admins. */
  async function subjectOf(req: FastifyRequest, rule: string): Promise<AuthContext> {
    const header = req.headers['x-subject-token'];
    const subjectId = Array.isArray(header) ? header[0] : header;
    if (!subjectId) throw new BadRequest('The X-Subject-Token header is required.');
    let subject: AuthContext;
    try {
      subject = await tokens.validate(subjectId);
    } catch (err) {
      if (err instanceof OrreryError && err.status === 401) throw new NotFound(`Could not find token: ${subjectId}.`);
      throw err;
    }
    authorize(req, rule, { 'target.token.user_id': subject.userId });
    return subject;
  }

  // GET also answers HEAD (Fastify exposes HEAD for GET routes): 200, headers only.
  app.get<{ Querystring: Static<typeof TokenQuery> }>('/v3/auth/tokens', { config: { policy: 'identity:validate_token', policyInHandler: true }, schema: { querystring: TokenQuery } }, async (req, reply) => {
    const subject = await subjectOf(req, req.method === 'HEAD' ? 'identity:check_token' : 'identity:validate_token');
    reply.header('x-subject-token', subject.tokenId);
    return tokenBody(subject, catalogUnless(req.query));
  });

  app.delete('/v3/auth/tokens', { config: { policy: 'identity:revoke_token', policyInHandler: true } }, async (req, reply) => {
    const subject = await subjectOf(req, 'identity:revoke_token');
    await tokens.revoke(subject.tokenId);
    reply.code(204).send();
  });

  app.get('/v3/auth/catalog', { config: { policy: 'identity:get_auth_catalog' } }, async (req) => {
    if (req.auth.projectId === null && !req.auth.domainId) throw new Forbidden('A scoped token is required to read the catalog.');
    return collection(req, 'catalog', opts.catalog());
  });

  app.get('/v3/auth/projects', { config: { policy: 'identity:get_auth_projects' } }, async (req) => {
    const projects = await projectsOfUser(db, req.auth.userId, { enabled: true });
    return collection(req, 'projects', projects.map((p) => projectView(req, p)));
  });

  app.get('/v3/auth/domains', { config: { policy: 'identity:get_auth_domains' } }, async (req) => {
    const domains = await listDomains(db, { ids: await effectiveDomainIdsOfUser(db, req.auth.userId), enabled: true });
    return collection(req, 'domains', domains.map((d) => domainView(req, d)));
  });
  // No system scope exists.
  app.get('/v3/auth/system', { config: { policy: 'identity:get_auth_system' } }, async (req) => collection(req, 'system', []));
}
