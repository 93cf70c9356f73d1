import type { FastifyInstance, FastifyRequest } from 'fastify';
import { ownTarget, type PolicyTarget } from '../auth/policy/enforcer.js';
import { now } from '../common/time.js';
import { createApp } from '../httpkit/app.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerCatalogRoutes } from './catalog-routes.js';
import { registerAppCredRoutes } from './app-cred-routes.js';
import { registerCredentialRoutes } from './credential-routes.js';
import { registerDomainRoutes } from './domain-routes.js';
import { registerGrantRoutes } from './grant-routes.js';
import { registerGroupRoutes } from './group-routes.js';
import { registerProjectTagRoutes } from './project-tag-routes.js';
import type { IdentityAppOptions } from './options.js';
import { PasswordAuthenticator } from './password-auth.js';
import { registerProjectRoutes } from './project-routes.js';
import { registerRoleRoutes } from './role-routes.js';
import { registerImpliedRoleRoutes } from './implied-role-routes.js';
import { registerUserRoutes } from './user-routes.js';
import { registerVersionRoutes } from './versions.js';

export type { IdentityAppOptions } from './options.js';

/** The Identity v3 API (Keystone-compatible) as a Fastify app; the caller listens. */
export function createIdentityApp(opts: IdentityAppOptions): FastifyInstance {
  const app = createApp({ name: 'identity', format: 'keystone', tokens: opts.tokens, log: opts.log, policy: { enforcer: opts.policy, style: 'keystone', targetOf: identityTarget } });
  const passwords = new PasswordAuthenticator(opts.db, opts.config, opts.clock ?? now);
  registerVersionRoutes(app);
  registerAuthRoutes(app, opts, passwords);
  registerProjectRoutes(app, opts);
  registerUserRoutes(app, opts, passwords);
  registerRoleRoutes(app, opts);
  registerImpliedRoleRoutes(app, opts);
  registerDomainRoutes(app, opts);
  registerGroupRoutes(app, opts);
  registerGrantRoutes(app, opts);
  registerAppCredRoutes(app, opts);
  registerProjectTagRoutes(app, opts);
  registerCatalogRoutes(app, opts.db, opts.catalog);
  registerCredentialRoutes(app, opts);
  return app;
}

/** Path parameters that name the target of an identity rule, as Keystone's `target.<kind>.id`. */
const TARGET_PARAMS: ReadonlyArray<[string, string]> = [
  ['userId', 'target.user.id'], ['projectId', 'target.project.id'], ['domainId', 'target.domain.id'], ['roleId', 'target.role.id'],
  ['groupId', 'target.group.id'],
];

/** Keystone's target: the caller's own ids and the resources the URL names. */
function identityTarget(req: FastifyRequest): PolicyTarget {
  const target = new Map<string, unknown>(ownTarget(req.auth));
  const params = (req.params ?? {}) as Record<string, unknown>;
  for (const [param, field] of TARGET_PARAMS) {
    if (Object.hasOwn(params, param) && typeof params[param] === 'string') target.set(field, params[param]);
  }
  return target;
}
