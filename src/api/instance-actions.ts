import type { FastifyInstance } from 'fastify';
import type { Selectable } from 'kysely';
import { NotFound } from '../common/errors.js';
import { isoMicros } from '../common/time.js';
import type { InstanceActionTable } from '../db/schema.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { findServer } from './server-common.js';

/** os-instance-actions: what was done to a server and, for admins, each step's events (Nova's instance_actions). */

function actionView(a: Selectable<InstanceActionTable>): Record<string, unknown> {
  return {
    action: a.action,
    instance_uuid: a.instance_uuid,
    request_id: a.request_id,
    user_id: a.user_id,
    project_id: a.project_id,
    start_time: isoMicros(a.start_time),
    message: a.message,
  };
}

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  const { db } = deps;

  // From 2.21 the actions of deleted servers stay readable.
  routeBoth<{ Params: { server_id: string } }>(app, 'GET', '/servers/:server_id/os-instance-actions', { policy: 'os_compute_api:os-instance-actions:list' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id, { includeDeleted: mvAtLeast(req, '2.21') });
    const actions = await db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', row.uuid)
      .orderBy('start_time', 'desc').orderBy('id', 'desc').execute();
    return { instanceActions: actions.map(actionView) };
  });

  routeBoth<{ Params: { server_id: string; request_id: string } }>(app, 'GET', '/servers/:server_id/os-instance-actions/:request_id', { policy: 'os_compute_api:os-instance-actions:show' }, async (req) => {
    const row = await findServer(db, req, req.params.server_id, { includeDeleted: mvAtLeast(req, '2.21') });
    const action = await db.selectFrom('instance_actions').selectAll()
      .where('instance_uuid', '=', row.uuid).where('request_id', '=', req.params.request_id)
      .orderBy('id', 'desc').executeTakeFirst();
    if (!action) throw new NotFound(`Action ${req.params.request_id} not found`);
    const view = actionView(action);
    // Up to 2.50 only admins see the events (policy os-instance-actions:events).
    if (req.auth.isAdmin) {
      const events = await db.selectFrom('instance_action_events').selectAll().where('action_id', '=', action.id)
        .orderBy('start_time', 'desc').orderBy('id', 'desc').execute();
      view.events = events.map((e) => ({
        event: e.event,
        start_time: isoMicros(e.start_time),
        finish_time: isoMicros(e.finish_time),
        result: e.result,
        traceback: e.traceback,
      }));
    }
    return { instanceAction: view };
  });
}
