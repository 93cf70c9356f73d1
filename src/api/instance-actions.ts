import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Selectable } from 'kysely';
import { BadRequest, NotFound } from '../common/errors.js';
import { isoMicros } from '../common/time.js';
import type { InstanceActionEventTable, InstanceActionTable } from '../db/schema.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { nextLinks, routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';
import { changesWindow, maxLimit, parseLimit } from './server-list.js';
import { hostIdOf } from './server-view.js';

/**
 * os-instance-actions: what was done to a server and each step's events (Nova's
 * instance_actions, up to 2.93): 2.51 events for everyone (traceback for admins), 2.58 paging,
 * changes-since and updated_at, 2.62 the event's host (admins) and hostId, 2.66
 * changes-before, 2.84 the event's details (admins).
 */

type Query = Record<string, string | string[] | undefined>;

function actionView(req: FastifyRequest, a: Selectable<InstanceActionTable>): Record<string, unknown> {
  const v: Record<string, unknown> = {
    action: a.action,
    instance_uuid: a.instance_uuid,
    request_id: a.request_id,
    user_id: a.user_id,
    project_id: a.project_id,
    start_time: isoMicros(a.start_time),
    message: a.message,
  };
  if (mvAtLeast(req, '2.58')) v.updated_at = isoMicros(a.updated_at);
  return v;
}

function eventView(req: FastifyRequest, e: Selectable<InstanceActionEventTable>, projectId: string): Record<string, unknown> {
  const admin = req.auth.isAdmin;
  const v: Record<string, unknown> = {
    event: e.event, start_time: isoMicros(e.start_time), finish_time: isoMicros(e.finish_time), result: e.result,
  };
  if (admin) v.traceback = e.traceback;
  if (mvAtLeast(req, '2.62')) {
    if (admin) v.host = e.host ?? '';
    v.hostId = hostIdOf(projectId, e.host);
  }
  if (mvAtLeast(req, '2.84') && admin) v.details = e.details;
  return v;
}

function last(q: Query, key: string): string | undefined {
  const v = q[key];
  return Array.isArray(v) ? v[v.length - 1] : v;
}

/** The list's query from 2.58 (Nova's list_query_params_v258/v266: no other parameters). */
function listQuery(req: FastifyRequest, deps: ComputeApiDeps): { limit?: number; marker?: string; since?: string; before?: string } {
  if (!mvAtLeast(req, '2.58')) return {};
  const q = (req.query ?? {}) as Query;
  const known = ['limit', 'marker', 'changes-since', ...(mvAtLeast(req, '2.66') ? ['changes-before'] : [])];
  const unknown = Object.keys(q).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new BadRequest(`Invalid input for query parameters. Additional properties are not allowed (${unknown.map((k) => `'${k}'`).join(', ')} ${unknown.length > 1 ? 'were' : 'was'} unexpected)`);
  }
  const { since, before } = changesWindow(last(q, 'changes-since'), last(q, 'changes-before'));
  return { limit: parseLimit(last(q, 'limit'), maxLimit(deps)), marker: last(q, 'marker'), since, before };
}

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  const { db } = deps;

  // From 2.21 the actions of deleted servers stay readable.
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/os-instance-actions', { policy: 'os_compute_api:os-instance-actions:list' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id, { includeDeleted: mvAtLeast(req, '2.21') });
    const page = listQuery(req, deps);
    let q = db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', row.uuid);
    if (page.since !== undefined) q = q.where('updated_at', '>=', page.since);
    if (page.before !== undefined) q = q.where('updated_at', '<=', page.before);
    if (page.marker !== undefined) {
      const m = await db.selectFrom('instance_actions').select(['id', 'start_time']).where('instance_uuid', '=', row.uuid)
        .where('request_id', '=', page.marker).orderBy('id', 'desc').executeTakeFirst();
      if (!m) throw new BadRequest(`Marker ${page.marker} could not be found.`);
      q = q.where((eb) => eb.or([eb('start_time', '<', m.start_time), eb.and([eb('start_time', '=', m.start_time), eb('id', '<', m.id)])]));
    }
    q = q.orderBy('start_time', 'desc').orderBy('id', 'desc');
    if (page.limit !== undefined) q = q.limit(page.limit);
    const actions = await q.execute();
    const out: Record<string, unknown> = { instanceActions: actions.map((a) => actionView(req, a)) };
    if (page.limit !== undefined) {
      const links = nextLinks(req, `servers/${row.uuid}/os-instance-actions`, { limit: page.limit }, actions.length, actions[actions.length - 1]?.request_id);
      if (links.length > 0) out.links = links;
    }
    return out;
  });

  routeBoth<{ Params: { server_id: string; request_id: string } }>(app, 'GET', '/servers/:server_id/os-instance-actions/:request_id', { policy: 'os_compute_api:os-instance-actions:show' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id, { includeDeleted: mvAtLeast(req, '2.21') });
    const action = await db.selectFrom('instance_actions').selectAll()
      .where('instance_uuid', '=', row.uuid).where('request_id', '=', req.params.request_id)
      .orderBy('id', 'desc').executeTakeFirst();
    if (!action) throw new NotFound(`Action ${req.params.request_id} not found`);
    const view = actionView(req, action);
    // Up to 2.50 only admins see the events (policy os-instance-actions:events); from 2.51 everyone, without tracebacks.
    if (req.auth.isAdmin || mvAtLeast(req, '2.51')) {
      const events = await db.selectFrom('instance_action_events').selectAll().where('action_id', '=', action.id)
        .orderBy('start_time', 'desc').orderBy('id', 'desc').execute();
      view.events = events.map((e) => eventView(req, e, row.project_id));
    }
    return { instanceAction: view };
  });
}
