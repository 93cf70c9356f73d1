import { sql } from 'kysely';
import { now } from '../common/time.js';
import type { Db } from './connection.js';

/**
 * Instance actions and their events: what a user reads back through os-instance-actions.
 * Events find their action (the newest of the instance with the request id) inside the
 * statement that writes them, so an event start is one statement and a finish two. The
 * action's updated_at moves when an event finishes, not when one starts.
 */

export async function createAction(
  db: Db, a: { instanceUuid: string; action: string; requestId: string; projectId: string; userId: string },
): Promise<void> {
  const ts = now().toISOString();
  await db.insertInto('instance_actions').values({
    instance_uuid: a.instanceUuid, action: a.action, request_id: a.requestId, project_id: a.projectId,
    user_id: a.userId, start_time: ts, finish_time: null, message: null, updated_at: ts,
  }).execute();
}

/** createAction for many instances at once (a multi-create): 200 rows of 9 columns per statement. */
export async function createActions(
  db: Db, a: { instanceUuids: string[]; action: string; requestId: string; projectId: string; userId: string },
): Promise<void> {
  const ts = now().toISOString();
  for (let i = 0; i < a.instanceUuids.length; i += 200) {
    await db.insertInto('instance_actions').values(a.instanceUuids.slice(i, i + 200).map((instanceUuid) => ({
      instance_uuid: instanceUuid, action: a.action, request_id: a.requestId, project_id: a.projectId,
      user_id: a.userId, start_time: ts, finish_time: null, message: null, updated_at: ts,
    }))).execute();
  }
}

/** LIMIT 1 written into the SQL: SQLite prepares a statement with a bound LIMIT anew at every run. */
const ONE = sql.lit(1);

/** The action of a request on an instance: the newest, as a request may repeat one. */
function actionOf(db: Db, instanceUuid: string, requestId: string) {
  return db.selectFrom('instance_actions as a').where('a.instance_uuid', '=', instanceUuid).where('a.request_id', '=', requestId)
    .orderBy('a.id', 'desc').limit(ONE);
}

/** Starts an event of the request's action; nothing when there is none (actions started by the system, like power sync). */
export async function startEvent(db: Db, instanceUuid: string, requestId: string, event: string, host: string | null): Promise<void> {
  const ts = now().toISOString();
  await db.insertInto('instance_action_events')
    .columns(['action_id', 'event', 'start_time', 'host'])
    .expression(actionOf(db, instanceUuid, requestId).select((eb) => [
      'a.id', eb.val(event).as('event'), eb.val(ts).as('start_time'), eb.val(host).as('host'),
    ]))
    .execute();
}

/**
 * startEvent, unless that event of the request's action is open already: a task flow's step run
 * again (by the conductor that took the flow over) shows one event, not two.
 */
export async function startEventOnce(db: Db, instanceUuid: string, requestId: string, event: string, host: string | null): Promise<void> {
  const ts = now().toISOString();
  await db.insertInto('instance_action_events')
    .columns(['action_id', 'event', 'start_time', 'host'])
    .expression(actionOf(db, instanceUuid, requestId)
      .where((eb) => eb.not(eb.exists(eb.selectFrom('instance_action_events as o').select('o.id')
        .whereRef('o.action_id', '=', 'a.id').where('o.event', '=', event).where('o.finish_time', 'is', null))))
      .select((eb) => ['a.id', eb.val(event).as('event'), eb.val(ts).as('start_time'), eb.val(host).as('host')]))
    .execute();
}

/** Finishes the newest open event of that name (or records it finished, if it never started) and the action with it. */
export async function finishEvent(
  db: Db, instanceUuid: string, requestId: string, event: string,
  result: 'Success' | 'Error', traceback: string | null, details: string | null,
): Promise<void> {
  const ts = now().toISOString();
  const action = await db.updateTable('instance_actions')
    .set({ updated_at: ts, finish_time: ts, ...(result === 'Error' ? { message: 'Error' } : {}) })
    .where('id', '=', actionOf(db, instanceUuid, requestId).select('a.id'))
    .returning('id')
    .executeTakeFirst();
  if (!action) return;
  const done = await db.updateTable('instance_action_events')
    .set({ finish_time: ts, result, traceback, details })
    .where('id', '=', db.selectFrom('instance_action_events as e').select('e.id')
      .where('e.action_id', '=', action.id).where('e.event', '=', event).where('e.finish_time', 'is', null)
      .orderBy('e.id', 'desc').limit(ONE))
    .executeTakeFirst();
  if (Number(done.numUpdatedRows) === 0) {
    await db.insertInto('instance_action_events').values({
      action_id: action.id, event, start_time: ts, finish_time: ts, result, traceback, host: null, details,
    }).execute();
  }
}

export async function addFault(
  db: Db, f: { instanceUuid: string; code: number; message: string; details: string; host: string | null },
): Promise<void> {
  await db.insertInto('instance_faults').values({
    instance_uuid: f.instanceUuid, code: f.code, message: f.message, details: f.details, host: f.host,
    created_at: now().toISOString(),
  }).execute();
}

/**
 * startEvent for many instances of one request at once (a multi-create's schedule events): one
 * statement per 200 instances, each event on the newest action of its instance for the request.
 */
export async function startEvents(db: Db, instanceUuids: string[], requestId: string, event: string, host: string | null): Promise<void> {
  const ts = now().toISOString();
  for (let i = 0; i < instanceUuids.length; i += 200) {
    const newest = db.selectFrom('instance_actions as n').select((eb) => eb.fn.max('n.id').as('id'))
      .where('n.request_id', '=', requestId).where('n.instance_uuid', 'in', instanceUuids.slice(i, i + 200)).groupBy('n.instance_uuid');
    await db.insertInto('instance_action_events')
      .columns(['action_id', 'event', 'start_time', 'host'])
      .expression(db.selectFrom('instance_actions as a').where('a.id', 'in', newest).select((eb) => [
        'a.id', eb.val(event).as('event'), eb.val(ts).as('start_time'), eb.val(host).as('host'),
      ]))
      .execute();
  }
}
