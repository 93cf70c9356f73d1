import type { Selectable } from 'kysely';
import { BadRequest, Conflict, OverQuota } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from './connection.js';
import { lockKey } from './locks.js';
import type { KeyPairTable } from './schema.js';

export type KeyPairRow = Selectable<KeyPairTable>;

export interface KeyPair {
  id: number;
  userId: string;
  name: string;
  publicKey: string;
  /** 'ssh' or 'x509'. */
  type: string;
  fingerprint: string;
  createdAt: string;
}

function rowToKeyPair(r: KeyPairRow): KeyPair {
  return {
    id: r.id, userId: r.user_id, name: r.name, publicKey: r.public_key, type: r.type, fingerprint: r.fingerprint, createdAt: r.created_at,
  };
}

/** A user's key pair by name (the servers API injects its public key), or null. */
export async function getKeyPair(db: Db, userId: string, name: string): Promise<KeyPair | null> {
  const row = await db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  return row ? rowToKeyPair(row) : null;
}

/** A user's key pairs in creation order, after the one named `marker` (BadRequest if unknown). */
export async function listKeyPairs(db: Db, userId: string, page: { limit?: number; marker?: string } = {}): Promise<KeyPair[]> {
  let q = db.selectFrom('key_pairs').selectAll().where('user_id', '=', userId);
  if (page.marker !== undefined) {
    const m = await db.selectFrom('key_pairs').select('id').where('user_id', '=', userId).where('name', '=', page.marker).executeTakeFirst();
    if (!m) throw new BadRequest(`Marker ${page.marker} could not be found.`);
    q = q.where('id', '>', m.id);
  }
  q = q.orderBy('id');
  if (page.limit !== undefined) q = q.limit(page.limit);
  return (await q.execute()).map(rowToKeyPair);
}

export async function countKeyPairs(db: Db, userId: string): Promise<number> {
  const r = await db.selectFrom('key_pairs').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', userId).executeTakeFirstOrThrow();
  return Number(r.n);
}

/**
 * Stores a key pair: Conflict when the user already has one of that name, OverQuota when the
 * user already holds `quota` pairs (-1: unlimited). Check and insert are one transaction under
 * the user's key pair lock, so concurrent creates (from any process) cannot both pass the check.
 */
export async function createKeyPair(
  db: Db, kp: { userId: string; name: string; publicKey: string; type: string; fingerprint: string }, quota: number,
): Promise<KeyPair> {
  return db.transaction().execute(async (tx) => {
    await lockKey(tx, `key_pairs:${kp.userId}`);
    const dup = await tx.selectFrom('key_pairs').select('id').where('user_id', '=', kp.userId).where('name', '=', kp.name).executeTakeFirst();
    if (dup) throw new Conflict(`Key pair '${kp.name}' already exists.`);
    if (quota >= 0) {
      const r = await tx.selectFrom('key_pairs').select((eb) => eb.fn.countAll<number>().as('n')).where('user_id', '=', kp.userId).executeTakeFirstOrThrow();
      if (Number(r.n) >= quota) throw new OverQuota('Quota exceeded, too many key pairs.');
    }
    await tx.insertInto('key_pairs').values({
      user_id: kp.userId, name: kp.name, public_key: kp.publicKey, type: kp.type, fingerprint: kp.fingerprint, created_at: now().toISOString(),
    }).execute();
    const row = await tx.selectFrom('key_pairs').selectAll().where('user_id', '=', kp.userId).where('name', '=', kp.name).executeTakeFirstOrThrow();
    return rowToKeyPair(row);
  });
}

/** Deletes a user's key pair; false when there is none of that name. */
export async function deleteKeyPair(db: Db, userId: string, name: string): Promise<boolean> {
  const res = await db.deleteFrom('key_pairs').where('user_id', '=', userId).where('name', '=', name).executeTakeFirst();
  return Number(res.numDeletedRows) > 0;
}
