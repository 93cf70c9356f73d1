import type { Db } from './connection.js';

/**
 * Runs `fn` in one transaction, or in the caller's when `db` is one already. This is how the
 * layers above the repositories make several repository calls one unit (a check and the write
 * it guards, a read-modify-write): they never open a transaction themselves. A transaction lost
 * with its connection before its COMMIT is run again from BEGIN (connection.ts), so `fn` must
 * be database work only — reads, writes and their checks.
 */
export function atomically<T>(db: Db, fn: (tx: Db) => Promise<T>): Promise<T> {
  return db.isTransaction ? fn(db) : db.transaction().execute(fn);
}
