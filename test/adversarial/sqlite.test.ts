import { describe } from 'node:test';
import { sweepTests } from './run-sweep.js';

describe('adversarial sweep on SQLite', () => {
  sweepTests(() => ({ randomRuns: Number(process.env.ORRERY_FUZZ_RUNS ?? 20) }));
});
