import type { Selectable } from 'kysely';
import type { Db } from './connection.js';
import type { CredentialTable } from './catalog-schema.js';

/** Keystone's credentials: the blob is stored encrypted (src/identity/credential-routes.ts encrypts it). */

export type CredentialRow = Selectable<CredentialTable>;

export async function getCredential(db: Db, id: string): Promise<CredentialRow | null> {
  return (await db.selectFrom('credentials').selectAll().where('id', '=', id).executeTakeFirst()) ?? null;
}

export interface CredentialFilters { user_id?: string; type?: string }

export async function listCredentials(db: Db, f: CredentialFilters, limit: number): Promise<CredentialRow[]> {
  let q = db.selectFrom('credentials').selectAll();
  if (f.user_id !== undefined) q = q.where('user_id', '=', f.user_id);
  if (f.type !== undefined) q = q.where('type', '=', f.type);
  return q.orderBy('created_at').orderBy('id').limit(limit).execute();
}

export async function countUserCredentials(db: Db, userId: string): Promise<number> {
  const row = await db.selectFrom('credentials').select((eb) => eb.fn.countAll<number | string>().as('n'))
    .where('user_id', '=', userId).executeTakeFirstOrThrow();
  return Number(row.n);
}

export async function insertCredential(db: Db, row: CredentialRow): Promise<void> {
  await db.insertInto('credentials').values(row).execute();
}

export async function updateCredential(db: Db, id: string, changes: Partial<Omit<CredentialRow, 'id' | 'created_at'>>): Promise<void> {
  await db.updateTable('credentials').set(changes).where('id', '=', id).execute();
}

export async function deleteCredential(db: Db, id: string): Promise<boolean> {
  const res = await db.deleteFrom('credentials').where('id', '=', id).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}

