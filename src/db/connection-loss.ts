import { ServiceUnavailable } from '../common/errors.js';
import { sleep } from '../common/time.js';

/**
 * Losing the database connection — a failover, a restart, `pg_terminate_backend`, a network cut —
 * as the layers above the repositories see it: a DatabaseUnavailable (503), after the work that
 * can safely be repeated was repeated on a fresh connection.
 *
 * What is safe to repeat depends on whether the lost work can have taken effect:
 * - opening a connection, or a statement never sent (the client already knew its connection
 *   dead): nothing happened;
 * - a read;
 * - any statement of an explicit transaction other than its COMMIT: the session died with its
 *   transaction, which rolled back, so the transaction is repeated from BEGIN (Db.transaction()).
 * A write outside a transaction, or a COMMIT, whose connection was lost before the answer may
 * have landed — even a FATAL 57P01 (admin_shutdown) can arrive after the commit and before
 * ReadyForQuery — so it is not repeated: its DatabaseUnavailable says `outcome: 'unknown'`,
 * and a caller that can check (did the row appear?) does.
  */
export class DatabaseUnavailable extends ServiceUnavailable {
  constructor(
    override readonly cause: unknown,
    /** Whether the failed work may have taken effect. */
    readonly outcome: 'not-applied' | 'unknown',
  ) {
    super('The database is unavailable at the moment; please try again later.');
  }
}

/** Server error codes that mean the session is gone: class 08 (connection exception), shutdowns, too many connections. */
const SESSION_GONE_CODES = new Set(['08000', '08001', '08003', '08004', '08006', '08007', '57P01', '57P02', '57P03', '53300']);
/** Socket-level errors of Node. */
const SOCKET_CODES = new Set(['ECONNRESET', 'ECONNREFUSED', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'EAI_AGAIN', 'ENOTFOUND']);
/** pg's own messages when a client's connection is gone; the first ones before anything was sent. */
const NOT_SENT = /not queryable|Client was closed|timeout exceeded when trying to connect/i;
const LOST = /Connection terminated|Connection ended|terminating connection/i;

/** Whether `err` says the connection to the database is lost or cannot be made. */
export function isConnectionLoss(err: unknown): boolean {
  if (err instanceof DatabaseUnavailable) return true;
  const e = err as { code?: unknown; message?: unknown } | null;
  const code = typeof e?.code === 'string' ? e.code : '';
  const message = typeof e?.message === 'string' ? e.message : '';
  return SESSION_GONE_CODES.has(code) || SOCKET_CODES.has(code) || NOT_SENT.test(message) || LOST.test(message);
}

/** Whether a lost statement was certainly never sent to the server (the client knew its connection dead, or had none). */
export function neverSent(err: unknown): boolean {
  if (err instanceof DatabaseUnavailable) return err.outcome === 'not-applied';
  const e = err as { code?: unknown; message?: unknown } | null;
  return e?.code === 'ECONNREFUSED' || NOT_SENT.test(typeof e?.message === 'string' ? e.message : '');
}

/**
 * Pauses between attempts after a lost connection: about 3 s in all, which covers a terminated
 * session (the next attempt opens a fresh one at once) and a quick failover; a longer outage
 * answers 503 rather than holding requests.
 */
export const RETRY_DELAYS_MS = [20, 100, 250, 500, 1000, 1500];

/** A connection loss as DatabaseUnavailable; `applied` says whether the lost work may have taken effect. */
export function unavailable(err: unknown, mayHaveApplied: boolean): DatabaseUnavailable {
  return err instanceof DatabaseUnavailable ? err : new DatabaseUnavailable(err, mayHaveApplied ? 'unknown' : 'not-applied');
}

/**
 * Runs `attempt` again after a lost connection while `repeatable(err)` says the lost attempt may
 * be repeated, pausing RETRY_DELAYS_MS between attempts (the pause also lets a dying client's
 * socket close, so the pool does not hand it out again); a connection loss that remains is
 * raised as DatabaseUnavailable.
 */
export async function retryingConnectionLoss<T>(attempt: (retry: number) => Promise<T>, repeatable: (err: unknown) => boolean): Promise<T> {
  for (let i = 0; ; i++) {
    try {
      return await attempt(i);
    } catch (err) {
      if (!isConnectionLoss(err)) throw err;
      if (!repeatable(err) || i >= RETRY_DELAYS_MS.length) throw unavailable(err, !neverSent(err));
      await sleep(RETRY_DELAYS_MS[i]!);
    }
  }
}
