import { createHash, randomUUID } from 'node:crypto';
import type { Db } from './connection.js';
import type { ConsoleAuthTokenTable } from './schema-consoles.js';

/**
 * Console URLs' tokens (Nova's console_auth_tokens). The token is a random UUID (122 random
 * bits, Nova's form) handed to the user once in the URL; the table holds its SHA-256 only, so a
 * copy of the table opens no console. A plain hash suffices: the token is random, there is no
 * dictionary to try (the same reasoning as the Keystone tokens' in auth/tokens.ts).
 */

export type ConsoleAuthToken = Omit<ConsoleAuthTokenTable, 'token_hash'>;

export function consoleTokenHash(token: string): string {
  return createHash('sha256').update(token, 'utf8').digest('hex');
}

/** Nova's token form: a lower-case UUID. Anything else is no token (and is never hashed or looked up). */
const TOKEN = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

export function isConsoleTokenForm(token: unknown): token is string {
  return typeof token === 'string' && TOKEN.test(token);
}

/**
 * Stores a new token for `row` (its expiry `ttlSeconds` from now) and answers the token, the one
 * time it exists outside the user's URL. Expired rows are removed on the way (a bounded delete
 * by the expiry index), so the table holds only live tokens and a few just expired.
 */
export async function issueConsoleToken(db: Db, row: Omit<ConsoleAuthToken, 'created_at' | 'expires_at'>, ttlSeconds: number, now = Date.now()): Promise<string> {
  const token = randomUUID();
  await db.deleteFrom('console_auth_tokens').where('expires_at', '<', new Date(now).toISOString()).execute();
  await db.insertInto('console_auth_tokens').values({
    ...row, token_hash: consoleTokenHash(token),
    created_at: new Date(now).toISOString(), expires_at: new Date(now + ttlSeconds * 1000).toISOString(),
  }).execute();
  return token;
}

/** The unexpired token's row; null for an unknown, malformed or expired token (indistinguishable). */
export async function findConsoleToken(db: Db, token: string, now = Date.now()): Promise<ConsoleAuthToken | null> {
  if (!isConsoleTokenForm(token)) return null;
  const row = await db.selectFrom('console_auth_tokens').selectAll().where('token_hash', '=', consoleTokenHash(token))
    .where('expires_at', '>=', new Date(now).toISOString()).executeTakeFirst();
  if (!row) return null;
  const { token_hash: _hash, ...rest } = row;
  return { ...rest, port: Number(rest.port) };
}
