import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import { BadRequest, Forbidden, NotFound, OrreryError, Unauthorized } from '../common/errors.js';
import {
  DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, findProjectByName, findUserByName, getProject, getUser, projectsOfUser,
  rolesOn, type ProjectRow, type UserRow,
} from '../db/identity.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import type { PasswordAuthenticator } from './password-auth.js';
import { collection, projectView, tokenBody } from './views.js';
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

/** Only the Default domain exists: a reference to any other names nothing. */
function isDefaultDomain(ref: { id?: string; name?: string } | undefined): boolean {
  if (ref === undefined || (ref.id === undefined && ref.name === undefined)) {
    throw new BadRequest('Invalid input: a name requires a domain id or name');
  }
  return ref.id !== undefined ? ref.id === DEFAULT_DOMAIN_ID : ref.name === DEFAULT_DOMAIN_NAME;
}

export function registerAuthRoutes(app: FastifyInstance, opts: IdentityAppOptions, passwords: PasswordAuthenticator): void {
  const { db, tokens } = opts;

  /** Who is authenticating: by password, or by an existing token (re-scoping), which is then the new token's parent. */
  async function identify(req: FastifyRequest<{ Body: AuthBody }>): Promise<{ user: UserRow; parent?: AuthContext }> {
    const { methods, password, token } = req.body.auth.identity;
    if (methods.includes('password')) {
      if (!password) throw new BadRequest("Invalid input for field 'identity.password': required by method 'password'");
      const u = password.user;
      let find: () => Promise<UserRow | null>;
      if (u.id !== undefined) find = () => getUser(db, u.id!);
      else if (u.name !== undefined) find = async () => (isDefaultDomain(u.domain) ? findUserByName(db, u.name!, DEFAULT_DOMAIN_ID) : null);
      else throw new BadRequest("Invalid input for field 'identity.password.user': an id or a name is required");
      return { user: await passwords.authenticate(req.ip, find, u.password) };
    }
    if (methods.includes('token')) {
      if (!token) throw new BadRequest("Invalid input for field 'identity.token': required by method 'token'");
      const parent = await tokens.validate(token.id);
      const user = await getUser(db, parent.userId);
      if (!user) throw unauthorized();
      return { user, parent };
    }
    throw new Unauthorized(`Attempted to authenticate with an unsupported method: ${methods.join(', ')}`);
  }

  /** The project to scope to: explicit, or the user's default project, or none. */
  async function scopeOf(body: AuthBody, user: UserRow): Promise<string | null> {
    const scope = body.auth.scope;
    if (scope === 'unscoped') return null;
    if (scope === undefined) {
      if (user.default_project_id === null) return null;
      const p = await getProject(db, user.default_project_id);
      if (!p || p.enabled !== 1) return null;
      return (await rolesOn(db, user.id, p.id)).length > 0 ? p.id : null;
    }
    if (scope.project !== undefined) {
      const ref = scope.project;
      let project: ProjectRow | null;
      if (ref.id !== undefined) project = await getProject(db, ref.id);
      else if (ref.name !== undefined) project = isDefaultDomain(ref.domain) ? await findProjectByName(db, ref.name, DEFAULT_DOMAIN_ID) : null;
      else throw new BadRequest("Invalid input for field 'scope.project': an id or a name is required");
      if (!project) throw unauthorized();
      return project.id;
    }
    // Roles are only ever granted on projects, so domain and system scopes hold no authority.
    if (scope.domain !== undefined || scope.system !== undefined) throw unauthorized();
    throw new BadRequest("Invalid input for field 'scope': a project, domain or system is required");
  }

  const catalogUnless = (q: { nocatalog?: string }) => (queryBool(q.nocatalog, 'nocatalog') ? null : opts.catalog());

  app.post<{ Body: AuthBody; Querystring: Static<typeof TokenQuery> }>('/v3/auth/tokens', {
    config: { public: true },
    schema: { body: AuthBody, querystring: TokenQuery },
  }, async (req, reply) => {
    const { user, parent } = await identify(req);
    const projectId = await scopeOf(req.body, user);
    const ctx = await tokens.issue(user.id, projectId, parent);
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
    if (req.auth.projectId === null) throw new Forbidden('A scoped token is required to read the catalog.');
    return collection(req, 'catalog', opts.catalog());
  });

  app.get('/v3/auth/projects', { config: { policy: 'identity:get_auth_projects' } }, async (req) => {
    const projects = await projectsOfUser(db, req.auth.userId, { enabled: true });
    return collection(req, 'projects', projects.map((p) => projectView(req, p)));
  });

  // Roles are granted on projects only: no domain or system scope is ever available.
  app.get('/v3/auth/domains', { config: { policy: 'identity:get_auth_domains' } }, async (req) => collection(req, 'domains', []));
  app.get('/v3/auth/system', { config: { policy: 'identity:get_auth_system' } }, async (req) => collection(req, 'system', []));
}
