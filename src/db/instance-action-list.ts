import type { Selectable } from 'kysely';
import { BadRequest } from '../common/errors.js';
import type { Db } from './connection.js';
import type { InstanceActionEventTable, InstanceActionTable } from './schema.js';

/** Reading back an instance's actions and their events (os-instance-actions); instance-actions.ts writes them. */

export type InstanceActionRow = Selectable<InstanceActionTable>;
export type InstanceActionEventRow = Selectable<InstanceActionEventTable>;

export interface ActionPage {
  /** ISO-8601 bounds on updated_at (changes-since, changes-before). */
  since?: string;
  before?: string;
  /** Request id of the last action of the previous page. */
  marker?: string;
  limit?: number;
}

/** An instance's actions, newest first, one page of them; a marker the instance has no action for is a 400. */
export async function listInstanceActions(db: Db, instanceUuid: string, page: ActionPage): Promise<InstanceActionRow[]> {
  let q = db.selectFrom('instance_actions').selectAll().where('instance_uuid', '=', instanceUuid);
  if (page.since !== undefined) q = q.where('updated_at', '>=', page.since);
  if (page.before !== undefined) q = q.where('updated_at', '<=', page.before);
  if (page.marker !== undefined) {
    const m = await db.selectFrom('instance_actions').select(['id', 'start_time']).where('instance_uuid', '=', instanceUuid)
      .where('request_id', '=', page.marker).orderBy('id', 'desc').executeTakeFirst();
    if (!m) throw new BadRequest(`Marker ${page.marker} could not be found.`);
    q = q.where((eb) => eb.or([eb('start_time', '<', m.start_time), eb.and([eb('start_time', '=', m.start_time), eb('id', '<', m.id)])]));
  }
  q = q.orderBy('start_time', 'desc').orderBy('id', 'desc');
  if (page.limit !== undefined) q = q.limit(page.limit);
  return q.execute();
}

/** The action of a request on an instance (the newest, as a request may repeat one), or null. */
export async function getInstanceAction(db: Db, instanceUuid: string, requestId: string): Promise<InstanceActionRow | null> {
  const action = await db.selectFrom('instance_actions').selectAll()
    .where('instance_uuid', '=', instanceUuid).where('request_id', '=', requestId)
    .orderBy('id', 'desc').executeTakeFirst();
  return action ?? null;
}

/** An action's events, newest first. */
export async function eventsOfAction(db: Db, actionId: number): Promise<InstanceActionEventRow[]> {
  return db.selectFrom('instance_action_events').selectAll().where('action_id', '=', actionId)
    .orderBy('start_time', 'desc').orderBy('id', 'desc').execute();
}
