import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../common/errors.js';
import type { ComputeApiDeps } from './deps.js';
import { requireMicroversion, mvAtLeast } from './microversion.js';
import { queryParam, routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';
import { changesWindow, parseLimit, maxLimit } from './server-list.js';

/**
 * os-migrations and /servers/{id}/migrations. Orrery performs no moves yet (no resize, migrate,
 * live-migrate or evacuate), so no migration record exists and every list is empty; what the
 * routes do check is what Nova checks of the query, per microversion, so a client learns of a
 * wrong request the same way it would from Nova.
 */

/** Nova's list_query_schema_v20 (additionalProperties true: anything else is ignored). */
const V20 = ['hidden', 'host', 'instance_uuid', 'source_compute', 'status', 'migration_type'];

/** The parameters Nova's os-migrations query schema names at the request's microversion. */
function knownParams(req: FastifyRequest): string[] {
  return [
    ...V20,
    ...(mvAtLeast(req, '2.59') ? ['limit', 'marker', 'changes-since'] : []),
    ...(mvAtLeast(req, '2.66') ? ['changes-before'] : []),
    ...(mvAtLeast(req, '2.80') ? ['user_id', 'project_id'] : []),
  ];
}

/**
 * Nova's checks of the os-migrations query: from 2.59 the schema is strict (additionalProperties
 * false) and pages with limit/marker; a marker must name a migration ("Marker … could not be
 * found", 400) — none exists here, so every marker is unknown.
 */
function checkListQuery(req: FastifyRequest, deps: ComputeApiDeps): void {
  if (!mvAtLeast(req, '2.59')) return;
  const known = knownParams(req);
  const unknown = Object.keys((req.query ?? {}) as Record<string, unknown>).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new BadRequest(`Invalid input for query parameters. Additional properties are not allowed (${unknown.map((k) => `'${k}'`).join(', ')} ${unknown.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  parseLimit(queryParam(req, 'limit'), maxLimit(deps));
  changesWindow(queryParam(req, 'changes-since'), queryParam(req, 'changes-before'));
  const marker = queryParam(req, 'marker');
  if (marker !== undefined) throw new BadRequest(`Marker ${marker} could not be found.`);
}

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth(app, 'GET', '/os-migrations', { policy: 'os_compute_api:os-migrations:index' }, async (req) => {
    checkListQuery(req, deps);
    return { migrations: [] };
  });

  // 2.23: the in-progress migrations of one server (Nova's server_migrations index).
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/migrations', {
    policy: 'os_compute_api:servers:migrations:index',
  }, async (req) => {
    requireMicroversion(req, '2.23');
    await findServer(deps.db, req, req.params.server_id);
    return { migrations: [] };
  });

  routeBoth<{ Params: { server_id: string; migration_id: string } }>(app, 'GET', '/servers/:server_id/migrations/:migration_id', {
    policy: 'os_compute_api:servers:migrations:show',
  }, async (req) => {
    requireMicroversion(req, '2.23');
    const row = await findServer(deps.db, req, req.params.server_id);
    throw new NotFound(`Migration ${req.params.migration_id} for instance ${row.uuid} could not be found.`);
  });
}
