import { sql } from 'kysely';
import { isPostgres, type Db } from './connection.js';

/**
 * Named locks held until the end of the current transaction, for check-then-write steps that
 * no row lock covers (counting a project's instances before inserting more, for instance).
 *
 * PostgreSQL: a transaction-scoped advisory lock on a hash of the name, so every process that
 * takes the same name queues behind the holder, and the next holder's statements (READ
 * COMMITTED takes a fresh snapshot per statement) see what the previous one committed.
 * SQLite: nothing to do — all of a process's queries go through one serialized connection, so
 * a transaction is never interleaved with another, and other processes wait on the file lock.
 *
 * Call it first thing inside `db.transaction()`. Two different names may hash alike, which
 * only costs a needless wait.
 */
export async function lockKey(tx: Db, name: string): Promise<void> {
  if (!tx.isTransaction) throw new Error(`lockKey(${name}) outside a transaction would hold nothing`);
  if (!isPostgres(tx)) return;
  // The two-key form keeps Orrery's locks apart from single-key advisory locks (Kysely's
  // migration lock is one); the first key is Orrery's namespace.
  await sql`SELECT pg_advisory_xact_lock(${sql.lit(ORRERY_LOCK_SPACE)}, hashtext(${name}))`.execute(tx);
}

/** 'orry' as an int4: the class id of Orrery's advisory locks. */
const ORRERY_LOCK_SPACE = 0x6f727279;
