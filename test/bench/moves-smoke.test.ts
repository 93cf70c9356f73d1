import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { allInOne } from '../../bench/deployments.js';
import { silentProgress } from '../../bench/progress.js';
import { movesMarkdown, runMoves } from '../../bench/scenarios/moves.js';

/**
 * The moves scenario of `npm run bench` with tiny numbers: 4 servers on the all-in-one (built
 * JavaScript), each resized and confirmed, then live-migrated, 2 at a time. It checks that every
 * move is timed and none failed, and that the report says so — never how fast anything is.
 */
describe('npm run bench -- --scenarios moves (smoke)', () => {
  it('times every resize, confirm and live migration, with no failure, and reports them', async () => {
    const r = await runMoves(allInOne, { n: 4, concurrency: 2, pollMs: 50, timeoutMs: 60_000 }, silentProgress);
    assert.equal(r.skipped, null);
    assert.deepEqual(r.failures, []);
    for (const s of [r.resizeMs, r.confirmMs, r.liveMs]) {
      assert.ok(s, 'a phase without a measurement');
      assert.equal(s.count, 4);
      assert.ok(s.p50 > 0 && s.max >= s.p50);
    }
    assert.ok(r.resizePerSecond! > 0 && r.livePerSecond! > 0);
    const md = movesMarkdown([r]);
    assert.match(md, /## Moves \(fake driver\)/);
    assert.match(md, /\| 4 \| 2 \| [\d.]+ \/ [\d.]+ \/ [\d.]+ \/ [\d.]+ \|/);
  });
});
