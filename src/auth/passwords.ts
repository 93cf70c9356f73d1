import { pbkdf2 as pbkdf2Cb, randomBytes, scrypt as scryptCb, timingSafeEqual, type ScryptOptions } from 'node:crypto';
import type { Config } from '../common/config.js';

/**
 * Password hashing. Stored strings describe themselves, so the algorithm and cost can change
 * without invalidating existing hashes; verification follows the stored string, not the
 * configuration:
 *
 * - `$pbkdf2-sha512$<rounds>$<salt ab64>$<hash ab64>`: passlib's format (Keystone's
 *   `pbkdf2_sha512`), so hashes move between Keystone and Orrery. The default: it needs no
 *   memory to speak of, where scrypt's 16 MiB per hash stays in glibc's per-thread arenas of
 *   libuv's pool (docs/performance.md, "Memory").
 * - `$scrypt$N=16384,r=8,p=1$<salt base64>$<hash base64>`: what Orrery stored before.
 */

export type PasswordHashOptions =
  | { algorithm: 'pbkdf2_sha512'; rounds: number }
  | { algorithm: 'scrypt'; cost: number };

const SALT_LENGTH = 16;
/** passlib stores the whole SHA-512 digest; one PBKDF2 block, so `rounds` is the whole cost. */
const PBKDF2_KEY_LENGTH = 64;
const PBKDF2_MIN_ROUNDS = 1000;
/** Node's limit for PBKDF2 iterations. */
const PBKDF2_MAX_ROUNDS = 2 ** 31 - 1;
const SCRYPT_KEY_LENGTH = 32;
const SCRYPT_BLOCK_SIZE = 8;
const SCRYPT_PARALLELISM = 1;
const SCRYPT_MIN_COST = 1024;
/** 1 GiB of working set at r = 8. */
const SCRYPT_MAX_COST = 2 ** 20;

/** The configured hashing, checked: a bad value stops the service at start rather than at the first password. */
export function passwordHashOptions(config: Config): PasswordHashOptions {
  const algorithm = config.str('identity', 'password_hash_algorithm');
  const opts: PasswordHashOptions | undefined =
    algorithm === 'pbkdf2_sha512' ? { algorithm, rounds: Number(config.str('identity', 'password_hash_rounds')) }
      : algorithm === 'scrypt' ? { algorithm, cost: Number(config.str('identity', 'password_hash_cost')) }
        : undefined;
  if (!opts) throw new Error(`config: [identity] password_hash_algorithm must be pbkdf2_sha512 or scrypt, got "${algorithm}"`);
  checkOptions(opts);
  return opts;
}

function checkOptions(opts: PasswordHashOptions): void {
  if (opts.algorithm === 'pbkdf2_sha512') {
    const n = opts.rounds;
    if (!Number.isInteger(n) || n < PBKDF2_MIN_ROUNDS || n > PBKDF2_MAX_ROUNDS) {
      throw new Error(`config: [identity] password_hash_rounds must be an integer from ${PBKDF2_MIN_ROUNDS} to ${PBKDF2_MAX_ROUNDS}, got ${n}`);
    }
  } else {
    const n = opts.cost;
    if (!Number.isInteger(n) || n < SCRYPT_MIN_COST || n > SCRYPT_MAX_COST || (n & (n - 1)) !== 0) {
      throw new Error(`config: [identity] password_hash_cost (scrypt's N) must be a power of two from ${SCRYPT_MIN_COST} to ${SCRYPT_MAX_COST}, got ${n}`);
    }
  }
}

export async function hashPassword(password: string, opts: PasswordHashOptions): Promise<string> {
  checkOptions(opts);
  const salt = randomBytes(SALT_LENGTH);
  if (opts.algorithm === 'pbkdf2_sha512') {
    const key = await pbkdf2(password, salt, opts.rounds, PBKDF2_KEY_LENGTH);
    return `${pbkdf2Prefix(opts.rounds)}${ab64(salt)}$${ab64(key)}`;
  }
  const key = await scrypt(password, salt, SCRYPT_KEY_LENGTH, {
    N: opts.cost, r: SCRYPT_BLOCK_SIZE, p: SCRYPT_PARALLELISM, maxmem: maxmemFor(opts.cost, SCRYPT_BLOCK_SIZE),
  });
  return `${scryptPrefix(opts.cost)}${salt.toString('base64')}$${key.toString('base64')}`;
}

/** True when `stored` was not made with `opts` (another algorithm or cost), so that it is worth hashing again. */
export function needsRehash(stored: string, opts: PasswordHashOptions): boolean {
  return !stored.startsWith(opts.algorithm === 'pbkdf2_sha512' ? pbkdf2Prefix(opts.rounds) : scryptPrefix(opts.cost));
}

const pbkdf2Prefix = (rounds: number): string => `$pbkdf2-sha512$${rounds}$`;
const scryptPrefix = (cost: number): string => `$scrypt$N=${cost},r=${SCRYPT_BLOCK_SIZE},p=${SCRYPT_PARALLELISM}$`;

// passlib allows an empty salt; its checksum is never empty.
const PBKDF2_RE = /^\$pbkdf2-sha512\$([1-9]\d{0,9})\$([A-Za-z0-9./]*)\$([A-Za-z0-9./]+)$/;
const SCRYPT_RE = /^\$scrypt\$N=(\d+),r=(\d+),p=(\d+)\$([A-Za-z0-9+/=]+)\$([A-Za-z0-9+/=]+)$/;

/** Whether `stored` is a hash verifyPassword can check (not empty, not malformed). */
export function isVerifiable(stored: string): boolean {
  return PBKDF2_RE.test(stored) || SCRYPT_RE.test(stored);
}

/**
 * A hash of a random password, made with `opts`: what a login naming no user (or a user with
 * no usable hash) is checked against, so that it costs what a wrong password for a real user
 * costs and its answer time does not tell the two apart.
 */
export function dummyHash(opts: PasswordHashOptions): Promise<string> {
  return hashPassword(randomBytes(18).toString('base64'), opts);
}

/**
 * True when `password` matches `stored`; false for any malformed, unknown or empty stored hash.
 * The key must have its full length (as passlib requires): a shortened one is a prefix of the
 * real key, and would match with fewer bytes to guess.
 */
export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  let key: Buffer;
  let expected: Buffer;
  try {
    const pm = PBKDF2_RE.exec(stored);
    const sm = pm ? null : SCRYPT_RE.exec(stored);
    if (pm) {
      const rounds = Number(pm[1]);
      expected = fromAb64(pm[3]!);
      if (expected.length !== PBKDF2_KEY_LENGTH || rounds > PBKDF2_MAX_ROUNDS) return false;
      key = await pbkdf2(password, fromAb64(pm[2]!), rounds, expected.length);
    } else if (sm) {
      const [N, r, p] = [Number(sm[1]), Number(sm[2]), Number(sm[3])];
      expected = Buffer.from(sm[5]!, 'base64');
      if (expected.length !== SCRYPT_KEY_LENGTH) return false;
      key = await scrypt(password, Buffer.from(sm[4]!, 'base64'), expected.length, { N, r, p, maxmem: maxmemFor(N, r) });
    } else {
      return false;
    }
  } catch {
    return false;
  }
  return timingSafeEqual(key, expected);
}

/** passlib's "adapted base64": '.' for '+', no padding. */
const ab64 = (b: Buffer): string => b.toString('base64').replaceAll('+', '.').replace(/=+$/, '');
const fromAb64 = (s: string): Buffer => Buffer.from(s.replaceAll('.', '+'), 'base64');

function pbkdf2(password: string, salt: Buffer, rounds: number, keylen: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    pbkdf2Cb(password, salt, rounds, keylen, 'sha512', (err, key) => (err ? reject(err) : resolve(key)));
  });
}

function scrypt(password: string, salt: Buffer, keylen: number, opts: ScryptOptions): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    scryptCb(password, salt, keylen, opts, (err, key) => (err ? reject(err) : resolve(key)));
  });
}

/** scrypt needs 128·N·r bytes; Node's default ceiling (32 MiB) is too low for large costs. */
const maxmemFor = (N: number, r: number): number => 256 * N * r + 1024 * 1024;
