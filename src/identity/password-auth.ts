import { FairQueue } from '../auth/fair-queue.js';
import { FailureLimiter, sourceOf } from '../auth/failure-limit.js';
import { dummyHash, isVerifiable, passwordHashOptions, verifyPassword } from '../auth/passwords.js';
import type { Config } from '../common/config.js';
import { Unauthorized } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { claimPasswordAttempt, resetFailedAuth, type UserRow } from '../db/identity.js';

/** Keystone's lockout settings, checked: empty or 0 attempts means no lockout; empty or 0 seconds, locked until re-enabled. */
function lockoutOptions(config: Config): { maxFailures: number; durationMs: number | null } {
  const int = (name: string): number => {
    const raw = config.opt('security_compliance', name) ?? '';
    const n = raw.trim() === '' ? 0 : Number(raw);
    if (!Number.isInteger(n) || n < 0) throw new Error(`config: [security_compliance] ${name} must be an integer >= 0 or empty, got "${raw}"`);
    return n;
  };
  const duration = int('lockout_duration');
  return { maxFailures: int('lockout_failure_attempts'), durationMs: duration === 0 ? null : duration * 1000 };
}

/** Keystone's user option: this user is never locked out (service users). */
function ignoresLockout(user: UserRow): boolean {
  try {
    return (JSON.parse(user.options ?? '{}') as Record<string, unknown>).ignore_lockout_failure_attempts === true;
  } catch {
    return false;
  }
}

const unauthorized = (): Unauthorized => new Unauthorized('The request you have made requires authentication.');

/**
 * Checks passwords for the token endpoint and the password change, with the defences against
 * guessing, in the order that keeps the cheap refusals before the expensive work:
 *
 * 1. the source's failure budget (FailureLimiter): 429 before anything is hashed;
 * 2. the source's turn at hashing (FairQueue): one source's flood cannot starve another's login;
 * 3. the user's lockout ([security_compliance]), counted atomically in the database before the
 *    hash, so that parallel guessers and several API processes share one count;
 * 4. the hash itself — against a dummy made with the configured cost when no user matched, so
 *    that an unknown name costs what a wrong password costs.
 */
export class PasswordAuthenticator {
  private readonly dummy: Promise<string>;
  private readonly limiter: FailureLimiter;
  private readonly queue = new FairQueue();
  private readonly lockout: { maxFailures: number; durationMs: number | null };

  constructor(private readonly db: Db, config: Config, private readonly clock: () => Date) {
    this.lockout = lockoutOptions(config);
    this.limiter = new FailureLimiter({
      burst: config.num('identity', 'auth_failure_burst'),
      refillPerSecond: config.num('identity', 'auth_failure_refill_per_second'),
      maxSources: config.num('identity', 'auth_failure_sources'),
      clock: () => clock().getTime(),
    });
    // Made once, at start, with the configured algorithm and cost (one hash's time, off the event loop).
    this.dummy = dummyHash(passwordHashOptions(config));
    this.dummy.catch(() => undefined); // a failure surfaces at the first login that awaits it
  }

  /**
   * The user `find` names, when `password` is theirs and they may log in; Unauthorized
   * otherwise (Keystone's AccountLocked message for a locked user), TooManyRequests when
   * `ip` has spent its failures.
   */
  async authenticate(ip: string, find: () => Promise<UserRow | null>, password: string): Promise<UserRow> {
    const source = sourceOf(ip);
    this.limiter.check(source);
    return this.queue.run(source, async () => {
      // Again: failures of the same source may have been spent while this one waited its turn.
      this.limiter.check(source);
      try {
        return await this.check(await find(), password);
      } catch (err) {
        if (err instanceof Unauthorized) this.limiter.fail(source);
        throw err;
      }
    });
  }

  /**
   * The same defences for an application credential's secret (1, 2 and 4 above; a credential
   * has no lockout of its own, as in Keystone): `find` gives the stored hash and what it unlocks.
   */
  async authenticateSecret<T>(ip: string, find: () => Promise<{ hash: string; value: T } | null>, secret: string): Promise<T> {
    const source = sourceOf(ip);
    this.limiter.check(source);
    return this.queue.run(source, async () => {
      this.limiter.check(source);
      const found = await find();
      const real = found !== null && isVerifiable(found.hash);
      const matches = await verifyPassword(secret, real ? found.hash : await this.dummy);
      if (!real || !matches) {
        this.limiter.fail(source);
        throw unauthorized();
      }
      return found.value;
    });
  }

  private async check(user: UserRow | null, password: string): Promise<UserRow> {
    const { maxFailures, durationMs } = this.lockout;
    if (user !== null && maxFailures > 0 && !ignoresLockout(user)) {
      const at = this.clock();
      const expiredBefore = durationMs === null ? null : new Date(at.getTime() - durationMs).toISOString();
      if (!(await claimPasswordAttempt(this.db, user.id, { at: at.toISOString(), maxFailures, expiredBefore }))) {
        throw new Unauthorized(`The account is locked for user: ${user.id}.`);
      }
    }
    const real = user !== null && isVerifiable(user.password_hash);
    const matches = await verifyPassword(password, real ? user.password_hash : await this.dummy);
    if (!real || !matches || user.enabled !== 1) throw unauthorized();
    if (maxFailures > 0) await resetFailedAuth(this.db, user.id);
    return user;
  }
}
