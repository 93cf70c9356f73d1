import { now } from '../common/time.js';
import type { Db } from './connection.js';

/** Instance actions and their events: what a user reads back through os-instance-actions. */

export async function createAction(
  db: Db, a: { instanceUuid: string; action: string; requestId: string; projectId: string; userId: string },
): Promise<void> {
  const ts = now().toISOString();
  await db.insertInto('instance_actions').values({
    instance_uuid: a.instanceUuid, action: a.action, request_id: a.requestId, project_id: a.projectId,
    user_id: a.userId, start_time: ts, finish_time: null, message: null, updated_at: ts,
  }).execute();
}

async function actionId(db: Db, instanceUuid: string, requestId: string): Promise<number | null> {
  const row = await db.selectFrom('instance_actions').select('id')
    .where('instance_uuid', '=', instanceUuid).where('request_id', '=', requestId)
    .orderBy('id', 'desc').executeTakeFirst();
  return row?.id ?? null;
}

export async function startEvent(db: Db, instanceUuid: string, requestId: string, event: string, host: string | null): Promise<void> {
  const id = await actionId(db, instanceUuid, requestId);
  if (id === null) return; // actions started by the system (power sync) have no user action
  const ts = now().toISOString();
  await db.insertInto('instance_action_events').values({
    action_id: id, event, start_time: ts, finish_time: null, result: null, traceback: null, host, details: null,
  }).execute();
  await db.updateTable('instance_actions').set({ updated_at: ts }).where('id', '=', id).execute();
}

export async function finishEvent(
  db: Db, instanceUuid: string, requestId: string, event: string,
  result: 'Success' | 'Error', traceback: string | null, details: string | null,
): Promise<void> {
  const id = await actionId(db, instanceUuid, requestId);
  if (id === null) return;
  const ts = now().toISOString();
  const ev = await db.selectFrom('instance_action_events').select('id')
    .where('action_id', '=', id).where('event', '=', event).where('finish_time', 'is', null)
    .orderBy('id', 'desc').executeTakeFirst();
  if (ev) {
    await db.updateTable('instance_action_events').set({ finish_time: ts, result, traceback, details }).where('id', '=', ev.id).execute();
  } else {
    await db.insertInto('instance_action_events').values({
      action_id: id, event, start_time: ts, finish_time: ts, result, traceback, host: null, details,
    }).execute();
  }
  const action = db.updateTable('instance_actions').set({ updated_at: ts, finish_time: ts }).where('id', '=', id);
  await (result === 'Error' ? action.set({ message: 'Error' }) : action).execute();
}

export async function addFault(
  db: Db, f: { instanceUuid: string; code: number; message: string; details: string; host: string | null },
): Promise<void> {
  await db.insertInto('instance_faults').values({
    instance_uuid: f.instanceUuid, code: f.code, message: f.message, details: f.details, host: f.host,
    created_at: now().toISOString(),
  }).execute();
}
