import { after, before, describe } from 'node:test';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { sweepTests } from './run-sweep.js';

describe('adversarial sweep on PostgreSQL', { skip: pgSkip }, () => {
  let pg: TestPgDatabase;
  before(async () => {
    pg = await createPgDatabase();
  });
  after(async () => {
    await pg?.drop();
  });
  sweepTests(() => ({ databaseUrl: pg.url, randomRuns: Number(process.env.ORRERY_FUZZ_RUNS ?? 10) }));
});
