import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import { isoMicros } from '../common/time.js';
import { getInstanceRow } from '../db/instances.js';
import {
  flavorRowIds, listMigrations, LIVE_IN_PROGRESS, liveMigrationsInProgress, migrationOfInstance, setMigrationStatusIf, type MigrationFilter,
} from '../db/migration-list.js';
import { getMigration, type MigrationRow } from '../db/move-records.js';
import { TaskState, VmState } from '../objects/states.js';
import { rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { requireMicroversion, mvAtLeast } from './microversion.js';
import { integerId, nextLinks, parseBoolParam, queryParam, resourceLinks, routeBoth } from './resource-kit.js';
import { checkBody, checkInstanceLock, checkInstanceState, findServer, instanceOf } from './server-common.js';
import { changesWindow, parseLimit, maxLimit } from './server-list.js';

/**
 * os-migrations (every move's record, admins only) and /servers/{id}/migrations (2.23: the live
 * migrations of one server under way, 2.22 force_complete, 2.24 abort), from the migration
 * records the conductor's flows write. Nova's fields and checks per microversion.
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

/** From 2.59 the query schema is strict (additionalProperties false). */
function checkStrictQuery(req: FastifyRequest): void {
  if (!mvAtLeast(req, '2.59')) return;
  const known = knownParams(req);
  const unknown = Object.keys((req.query ?? {}) as Record<string, unknown>).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new BadRequest(`Invalid input for query parameters. Additional properties are not allowed (${unknown.map((k) => `'${k}'`).join(', ')} ${unknown.length > 1 ? 'were' : 'was'} unexpected)`);
  }
}

/** The filters of the query, as far as the request's microversion knows them. */
function filterOf(req: FastifyRequest): MigrationFilter {
  const q = (name: string): string | undefined => queryParam(req, name);
  const f: MigrationFilter = {};
  const put = <K extends keyof MigrationFilter>(k: K, v: MigrationFilter[K] | undefined): void => { if (v !== undefined) f[k] = v; };
  put('status', q('status'));
  put('host', q('host'));
  put('sourceCompute', q('source_compute'));
  put('instanceUuid', q('instance_uuid'));
  put('migrationType', q('migration_type'));
  const hidden = q('hidden');
  if (hidden !== undefined) put('hidden', parseBoolParam(hidden));
  if (mvAtLeast(req, '2.59')) {
    const w = changesWindow(q('changes-since'), mvAtLeast(req, '2.66') ? q('changes-before') : undefined);
    put('changesSince', w.since);
    put('changesBefore', w.before);
  }
  if (mvAtLeast(req, '2.80')) {
    put('userId', q('user_id'));
    put('projectId', q('project_id'));
  }
  return f;
}

/** A flavor's API id in a migration's JSON flavor, or null. */
function flavoridOf(json: string | null): string | null {
  if (json === null) return null;
  try {
    const f = JSON.parse(json) as { flavorid?: unknown };
    return typeof f.flavorid === 'string' ? f.flavorid : null;
  } catch {
    return null;
  }
}

const isLiveInProgress = (m: MigrationRow): boolean => m.migration_type === 'live-migration' && (LIVE_IN_PROGRESS as readonly string[]).includes(m.status);

/** os-migrations' record of one migration (Nova's migrations._output) at the request's microversion. */
function osMigrationView(req: FastifyRequest, m: MigrationRow, flavorIds: Map<string, number>): Record<string, unknown> {
  const idOf = (json: string | null): number | null => {
    const fid = flavoridOf(json);
    return fid === null ? null : flavorIds.get(fid) ?? null;
  };
  const out: Record<string, unknown> = {
    created_at: isoMicros(m.created_at), dest_compute: m.dest_compute, dest_host: m.dest_host, dest_node: m.dest_node, id: m.id,
    instance_uuid: m.instance_uuid, new_instance_type_id: idOf(m.new_flavor), old_instance_type_id: idOf(m.old_flavor),
    source_compute: m.source_compute, source_node: m.source_node, status: m.status, updated_at: isoMicros(m.updated_at),
  };
  if (mvAtLeast(req, '2.23')) {
    out.migration_type = m.migration_type;
    // Links only to what /servers/{id}/migrations/{id} shows: a live migration under way.
    if (isLiveInProgress(m)) out.links = resourceLinks(req, `servers/${m.instance_uuid}/migrations`, m.id);
  }
  if (mvAtLeast(req, '2.59')) out.uuid = m.uuid;
  if (mvAtLeast(req, '2.80')) {
    out.user_id = m.user_id;
    out.project_id = m.project_id;
  }
  return out;
}

/** /servers/{id}/migrations' record (Nova's server_migrations output). */
function serverMigrationView(req: FastifyRequest, m: MigrationRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    created_at: isoMicros(m.created_at), dest_compute: m.dest_compute, dest_host: m.dest_host, dest_node: m.dest_node,
    disk_processed_bytes: m.disk_processed, disk_remaining_bytes: m.disk_remaining, disk_total_bytes: m.disk_total, id: m.id,
    memory_processed_bytes: m.memory_processed, memory_remaining_bytes: m.memory_remaining, memory_total_bytes: m.memory_total,
    server_uuid: m.instance_uuid, source_compute: m.source_compute, source_node: m.source_node, status: m.status,
    updated_at: isoMicros(m.updated_at),
  };
  if (mvAtLeast(req, '2.59')) out.uuid = m.uuid;
  if (mvAtLeast(req, '2.80')) {
    out.user_id = m.user_id;
    out.project_id = m.project_id;
  }
  return out;
}

async function listOsMigrations(deps: ComputeApiDeps, req: FastifyRequest): Promise<Record<string, unknown>> {
  checkStrictQuery(req);
  const filter = filterOf(req);
  const paged = mvAtLeast(req, '2.59');
  const limit = paged ? parseLimit(queryParam(req, 'limit'), maxLimit(deps)) : Number.MAX_SAFE_INTEGER;
  let marker: MigrationRow | undefined;
  const markerId = paged ? queryParam(req, 'marker') : undefined;
  if (markerId !== undefined) {
    marker = (await getMigration(deps.db, markerId)) ?? undefined;
    if (!marker) throw new BadRequest(`Marker ${markerId} could not be found.`);
  }
  const rows = await listMigrations(deps.db, filter, { limit, marker, newestFirst: paged });
  const flavorIds = await flavorRowIds(deps.db, rows.flatMap((m) => [flavoridOf(m.old_flavor), flavoridOf(m.new_flavor)]).filter((x): x is string => x !== null));
  // Nova leaves hidden records out of the view, after the page is cut (so a page may be short).
  const migrations = rows.filter((m) => m.hidden === 0).map((m) => osMigrationView(req, m, flavorIds));
  const body: Record<string, unknown> = { migrations };
  if (paged) {
    const links = nextLinks(req, 'os-migrations', { limit, marker: markerId }, rows.length, rows.at(-1)?.uuid);
    if (links.length > 0) body.migrations_links = links;
  }
  return body;
}

/** A migration of the server by its id in the path, or Nova's 404. */
async function migrationOf(deps: ComputeApiDeps, serverUuid: string, rawId: string): Promise<MigrationRow> {
  const id = integerId(rawId);
  const m = id === null ? null : await migrationOfInstance(deps.db, id, serverUuid);
  if (!m) throw new NotFound(`Migration ${rawId} not found for instance ${serverUuid}`);
  return m;
}

/** Nova's InvalidMigrationState (400). */
function invalidMigrationState(m: MigrationRow, method: string): BadRequest {
  return new BadRequest(`Migration ${m.id} state of instance ${m.instance_uuid} is ${m.status}. Cannot ${method} while the migration is in this state.`);
}

const ForceCompleteBody = Type.Object({ force_complete: Type.Null() }, { additionalProperties: false });

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  routeBoth(app, 'GET', '/os-migrations', { policy: 'os_compute_api:os-migrations:index' }, (req) => listOsMigrations(deps, req));

  // 2.23: the live migrations of one server under way (Nova's server_migrations index).
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/migrations', {
    policy: 'os_compute_api:servers:migrations:index',
  }, async (req) => {
    requireMicroversion(req, '2.23');
    const row = await findServer(deps.db, req, req.params.server_id);
    return { migrations: (await liveMigrationsInProgress(deps.db, row.uuid)).map((m) => serverMigrationView(req, m)) };
  });

  routeBoth<{ Params: { server_id: string; migration_id: string } }>(app, 'GET', '/servers/:server_id/migrations/:migration_id', {
    policy: 'os_compute_api:servers:migrations:show',
  }, async (req) => {
    requireMicroversion(req, '2.23');
    const row = await findServer(deps.db, req, req.params.server_id);
    const m = await migrationOf(deps, row.uuid, req.params.migration_id);
    if (m.migration_type !== 'live-migration') throw new NotFound(`Migration ${m.id} for server ${row.uuid} is not live-migration.`);
    if (!isLiveInProgress(m)) throw new NotFound(`Live migration ${m.id} for server ${row.uuid} is not in progress.`);
    return { migration: serverMigrationView(req, m) };
  });

  // 2.22: finish a running live migration now (the source pauses the guest so its memory converges).
  routeBoth<{ Params: { server_id: string; migration_id: string }; Body: unknown }>(app, 'POST', '/servers/:server_id/migrations/:migration_id/action', {
    policy: 'os_compute_api:servers:migrations:force_complete',
  }, async (req, reply) => {
    requireMicroversion(req, '2.22');
    checkBody(ForceCompleteBody, req.body);
    const row = await findServer(deps.db, req, req.params.server_id);
    // compute API live_migrate_force_complete: @check_instance_lock, @check_instance_state.
    checkInstanceLock(req, row);
    checkInstanceState(row, 'force_complete', [VmState.ACTIVE], [TaskState.MIGRATING]);
    const m = await migrationOf(deps, row.uuid, req.params.migration_id);
    if (m.status !== 'running') throw invalidMigrationState(m, 'force complete');
    await deps.compute.moveStep(rpcContextOf(req), 'live_migration_force_complete', { instance: await instanceOf(deps.db, row), migrationId: m.uuid });
    reply.code(202);
    return undefined;
  });

  // 2.24: abort a live migration (2.65: one still queued or preparing too).
  routeBoth<{ Params: { server_id: string; migration_id: string } }>(app, 'DELETE', '/servers/:server_id/migrations/:migration_id', {
    policy: 'os_compute_api:servers:migrations:delete',
  }, async (req, reply) => {
    requireMicroversion(req, '2.24');
    const row = await findServer(deps.db, req, req.params.server_id);
    checkInstanceLock(req, row);
    checkInstanceState(row, 'abort live migration', null, [TaskState.MIGRATING]);
    const m = await migrationOf(deps, row.uuid, req.params.migration_id);
    const allowed = mvAtLeast(req, '2.65') ? ['running', 'queued', 'preparing'] : ['running'];
    if (m.migration_type !== 'live-migration' || !allowed.includes(m.status)) throw invalidMigrationState(m, 'abort live migration');
    // Cancelling first: the flow sees it (a migration not yet running is not started), and a
    // second abort meanwhile is refused as Nova refuses it.
    if (!(await setMigrationStatusIf(deps.db, m.uuid, allowed, 'cancelling'))) {
      const now = (await getMigration(deps.db, m.uuid)) ?? m;
      throw invalidMigrationState(now, 'abort live migration');
    }
    // The instance is on the source still while its live migration runs: that is where it is aborted.
    const current = (await getInstanceRow(deps.db, row.uuid)) ?? row;
    await deps.compute.moveStep(rpcContextOf(req), 'live_migration_abort', { instance: await instanceOf(deps.db, current), migrationId: m.uuid });
    reply.code(202);
    return undefined;
  });
}
