import type { FastifyInstance, FastifyRequest } from 'fastify';
import { BadRequest, NotFound } from '../common/errors.js';
import { isoMicros } from '../common/time.js';
import {
  eventsOfAction, getInstanceAction, listInstanceActions, type InstanceActionEventRow, type InstanceActionRow,
} from '../db/instance-action-list.js';
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

function actionView(req: FastifyRequest, a: InstanceActionRow): Record<string, unknown> {
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

function eventView(req: FastifyRequest, e: InstanceActionEventRow, projectId: string): Record<string, unknown> {
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
    const actions = await listInstanceActions(db, row.uuid, page);
    const out: Record<string, unknown> = { instanceActions: actions.map((a) => actionView(req, a)) };
    if (page.limit !== undefined) {
      const links = nextLinks(req, `servers/${row.uuid}/os-instance-actions`, { limit: page.limit }, actions.length, actions[actions.length - 1]?.request_id);
      if (links.length > 0) out.links = links;
    }
    return out;
  });

  routeBoth<{ Params: { server_id: string; request_id: string } }>(app, 'GET', '/servers/:server_id/os-instance-actions/:request_id', { policy: 'os_compute_api:os-instance-actions:show' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id, { includeDeleted: mvAtLeast(req, '2.21') });
    const action = await getInstanceAction(db, row.uuid, req.params.request_id);
    if (!action) throw new NotFound(`Action ${req.params.request_id} not found`);
    const view = actionView(req, action);
    // Up to 2.50 only admins see the events (policy os-instance-actions:events); from 2.51 everyone, without tracebacks.
    if (req.auth.isAdmin || mvAtLeast(req, '2.51')) {
      const events = await eventsOfAction(db, action.id);
      view.events = events.map((e) => eventView(req, e, row.project_id));
    }
    return { instanceAction: view };
  });
}
