import assert from 'node:assert/strict';
import { after, before, it } from 'node:test';
import { Sweep, type SweepOptions } from './sweep.js';

/** The sweep as node:test cases: one per API, each listing every finding of its routes. */
export function sweepTests(opts: () => SweepOptions): void {
  let sweep: Sweep;
  before(async () => {
    sweep = await Sweep.start(opts());
  });
  after(async () => {
    await sweep?.close();
  });
  const seed = Number(process.env.ORRERY_FUZZ_SEED ?? 20261202);
  for (const name of ['identity', 'image', 'placement', 'compute', 'network']) {
    it(`${name}: every route survives hostile names, strings, numbers and shapes`, async (t) => {
      const all = sweep.routes().filter((r) => r.api === name);
      assert.ok(all.length > 0);
      // ORRERY_FUZZ_ROUTE narrows a run to the routes whose URL contains it (to reproduce a finding).
      const only = process.env.ORRERY_FUZZ_ROUTE;
      const routes = only ? all.filter((r) => r.url.includes(only)) : all;
      const from = sweep.findings.length;
      const cases = sweep.cases;
      for (const [i, r] of routes.entries()) await sweep.sweep(r, opts().randomRuns, seed + i);
      const found = sweep.findings.slice(from);
      t.diagnostic(`${routes.length} routes, ${sweep.cases - cases} requests`);
      assert.ok(sweep.cases - cases >= routes.length, `only ${sweep.cases - cases} cases`);
      assert.deepEqual(found.map((f) => `${f.route} ← ${f.request}: ${f.problem}`), []);
    });
  }
}
