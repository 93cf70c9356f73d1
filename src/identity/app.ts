import type { FastifyInstance } from 'fastify';
import { now } from '../common/time.js';
import { createApp } from '../httpkit/app.js';
import { registerAuthRoutes } from './auth-routes.js';
import { registerCatalogRoutes } from './catalog-routes.js';
import { registerDomainRoutes } from './domain-routes.js';
import type { IdentityAppOptions } from './options.js';
import { PasswordAuthenticator } from './password-auth.js';
import { registerProjectRoutes } from './project-routes.js';
import { registerRoleRoutes } from './role-routes.js';
import { registerUserRoutes } from './user-routes.js';
import { registerVersionRoutes } from './versions.js';

export type { IdentityAppOptions } from './options.js';

/** The Identity v3 API (Keystone-compatible) as a Fastify app; the caller listens. */
export function createIdentityApp(opts: IdentityAppOptions): FastifyInstance {
  const app = createApp({ name: 'identity', format: 'keystone', tokens: opts.tokens, log: opts.log });
  const passwords = new PasswordAuthenticator(opts.db, opts.config, opts.clock ?? now);
  registerVersionRoutes(app);
  registerAuthRoutes(app, opts, passwords);
  registerProjectRoutes(app, opts);
  registerUserRoutes(app, opts, passwords);
  registerRoleRoutes(app, opts);
  registerDomainRoutes(app);
  registerCatalogRoutes(app, opts.catalog);
  return app;
}
