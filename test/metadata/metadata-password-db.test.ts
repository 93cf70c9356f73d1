import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomUUID } from 'node:crypto';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { clearInstancePassword, getInstancePassword, setInstancePasswordOnce } from '../../src/db/instance-passwords.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/** The password a guest posts is stored once: of many posts at once exactly one wins, on both databases. */
for (const engine of ['sqlite', 'postgresql'] as const) {
  describe(`the metadata password, set once (${engine})`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
    let db: Db;
    let pg: TestPgDatabase | undefined;
    const dir = mkdtempSync(join(tmpdir(), 'orrery-mdpw-'));
    before(async () => {
      if (engine === 'postgresql') pg = await createPgDatabase();
      db = openDatabase(pg?.url ?? `sqlite:///${join(dir, 'orrery.sqlite')}`);
      await migrate(db);
    });
    after(async () => {
      await db?.destroy();
      await pg?.drop();
      rmSync(dir, { recursive: true, force: true });
    });

    it('twenty posts at once: one stored, the others refused; cleared, it can be set again', async () => {
      const uuid = randomUUID();
      const results = await Promise.all(Array.from({ length: 20 }, (_, i) => setInstancePasswordOnce(db, uuid, `pw${i}`)));
      assert.equal(results.filter(Boolean).length, 1);
      assert.equal(await getInstancePassword(db, uuid), `pw${results.indexOf(true)}`);
      await clearInstancePassword(db, uuid);
      assert.equal(await setInstancePasswordOnce(db, uuid, 'new'), true);
      assert.equal(await getInstancePassword(db, uuid), 'new');
    });
  });
}
