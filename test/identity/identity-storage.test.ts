import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { Migrator, type Migration } from 'kysely';
import { openDatabase, type Db } from '../../src/db/connection.js';
import { claimPasswordAttempt, getUser, insertUser, resetFailedAuth } from '../../src/db/identity.js';
import * as m001 from '../../src/db/migrations/001_initial.js';
import * as m002 from '../../src/db/migrations/002_inventory_free_index.js';
import * as m003 from '../../src/db/migrations/003_token_hashes_and_lockout.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

const MIGRATIONS: Record<string, Migration> = {
  '001_initial': m001, '002_inventory_free_index': m002, '003_token_hashes_and_lockout': m003,
};
const migrator = (db: Db) => new Migrator({ db, provider: { getMigrations: async () => MIGRATIONS } });

/** The identity rows migration 003 and the lockout counter touch, on SQLite and on PostgreSQL. */
for (const engine of ['sqlite', 'postgresql'] as const) {
  describe(`identity storage on ${engine}`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
    let pg: TestPgDatabase | undefined;
    let db: Db;
    before(async () => {
      if (engine === 'postgresql') pg = await createPgDatabase();
      db = openDatabase(pg?.url ?? 'sqlite://');
    });
    after(async () => {
      await db?.destroy();
      await pg?.drop();
    });

    it('migration 003 deletes the tokens stored in plain text and gives users a zero failure count', async () => {
      const step = await migrator(db).migrateTo('002_inventory_free_index');
      assert.equal(step.error, undefined);
      const at = new Date().toISOString();
      await db.insertInto('users').values({
        id: 'u1', name: 'old', domain_id: 'default', password_hash: '', enabled: 1, default_project_id: null,
        email: null, description: null, created_at: at,
      } as never).execute();
      const token = (id: string) => ({ id, user_id: 'u1', project_id: null, issued_at: at, expires_at: at, revoked: 0 });
      await db.insertInto('tokens').values([token(`gAAAA${'x'.repeat(64)}`), token('ab'.repeat(32))]).execute();
      const latest = await migrator(db).migrateToLatest();
      assert.equal(latest.error, undefined);
      assert.deepEqual((await db.selectFrom('tokens').select('id').execute()).map((r) => r.id), ['ab'.repeat(32)]);
      const user = (await getUser(db, 'u1'))!;
      assert.equal(user.failed_auth_count, 0);
      assert.equal(user.failed_auth_at, null);
    });

    it('lets no more than N concurrent attempts through a lockout, and starts again once it has run out', async () => {
      await insertUser(db, {
        id: 'u2', name: 'guessed', domain_id: 'default', password_hash: '', enabled: 1, default_project_id: null,
        email: null, description: null, created_at: new Date().toISOString(),
      });
      const t0 = Date.parse('2030-01-01T00:00:00Z');
      const iso = (ms: number): string => new Date(ms).toISOString();
      // On PostgreSQL these run on up to 10 connections at once.
      const claims = await Promise.all(Array.from({ length: 20 }, () =>
        claimPasswordAttempt(db, 'u2', { at: iso(t0), maxFailures: 4, expiredBefore: iso(t0 - 60_000) })));
      assert.equal(claims.filter(Boolean).length, 4);
      assert.equal((await getUser(db, 'u2'))!.failed_auth_count, 4);
      // Still locked 59 s after the last failure; 61 s after, an attempt starts a new count.
      assert.equal(await claimPasswordAttempt(db, 'u2', { at: iso(t0 + 59_000), maxFailures: 4, expiredBefore: iso(t0 - 1000) }), false);
      assert.equal(await claimPasswordAttempt(db, 'u2', { at: iso(t0 + 61_000), maxFailures: 4, expiredBefore: iso(t0 + 1000) }), true);
      assert.equal((await getUser(db, 'u2'))!.failed_auth_count, 1);
      await resetFailedAuth(db, 'u2');
      assert.equal((await getUser(db, 'u2'))!.failed_auth_count, 0);
      assert.equal(await claimPasswordAttempt(db, 'nobody', { at: iso(t0), maxFailures: 4, expiredBefore: null }), false);
    });
  });
}
