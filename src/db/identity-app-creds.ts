import type { Insertable, Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { ApplicationCredentialTable } from './schema-identity.js';

/** Application credentials (migration 012); the secret is only ever stored as its hash. */

export type AppCredRow = Selectable<ApplicationCredentialTable>;

export async function getAppCred(db: Db, id: string): Promise<AppCredRow | null> {
  return (await db.selectFrom('application_credentials').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export async function findAppCredByName(db: Db, userId: string, name: string): Promise<AppCredRow | null> {
  return (await db.selectFrom('application_credentials').selectAll()
    .where('user_id', '=', userId).where('name', '=', name).executeTakeFirst()) ?? null;
}

export async function listAppCreds(db: Db, userId: string, f: { name?: string } = {}): Promise<AppCredRow[]> {
  let q = db.selectFrom('application_credentials').selectAll().where('user_id', '=', userId);
  if (f.name !== undefined) q = q.where('name', '=', f.name);
  return q.orderBy('name').orderBy('id').execute();
}

export async function countAppCreds(db: Db, userId: string): Promise<number> {
  const r = await db.selectFrom('application_credentials').select((e) => e.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirst();
  return Number(r?.n ?? 0);
}

export async function insertAppCred(db: Db, row: Insertable<ApplicationCredentialTable>): Promise<void> {
  await db.insertInto('application_credentials').values(row).execute();
}

/** Deletes one credential and revokes the tokens it issued; false when there was none. */
export async function deleteAppCred(db: Db, id: string): Promise<boolean> {
  const res = await db.deleteFrom('application_credentials').where('id', '=', id).executeTakeFirst();
  await db.updateTable('tokens').set({ revoked: 1 }).where('app_cred_id', '=', id).execute();
  return Number(res.numDeletedRows) > 0;
}

/** Deletes a user's credentials (all, or those on one project), as Keystone does when the user loses a role there. */
export async function deleteAppCredsOf(db: Db, userId: string, projectId?: string): Promise<void> {
  let q = db.deleteFrom('application_credentials').where('user_id', '=', userId);
  if (projectId !== undefined) q = q.where('project_id', '=', projectId);
  await q.execute();
}
