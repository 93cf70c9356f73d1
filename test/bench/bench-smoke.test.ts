import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runBench, type BenchOutput } from '../../bench/bench.js';
import { allInOne, multiProcess } from '../../bench/deployments.js';
import { silentProgress } from '../../bench/progress.js';
import type { BenchResults } from '../../bench/results.js';
import { backendSkip } from '../support/backends.js';

/** The scale-out storm needs PostgreSQL and RabbitMQ; without them the benchmark says why it skipped it. */
const scaleOutMissing = await multiProcess.unavailable();
const scaleOutSkip = backendSkip(`the multi-process deployment's back-ends (${scaleOutMissing})`, scaleOutMissing === null);

/**
 * The benchmark end to end with tiny numbers: it starts the all-in-one from built JavaScript,
 * boots, lists and deletes 5 servers, asks the scheduler about 10 nodes, runs the storm again
 * on the multi-process deployment with one compute process, and writes its Markdown, JSON and
 * SVG. It checks that they are produced and sane, never how fast anything is.
 */
describe('npm run bench (smoke)', () => {
  let dir: string;
  let out: BenchOutput;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orrery-bench-smoke-'));
    out = await runBench({
      deployment: allInOne,
      storm: { ns: [5], concurrencies: [2], repeat: 1, flavor: 'm1.nano', image: 'orrery-tiny', pollMs: 100, listSamples: 2, stallMs: 30_000, warmup: 2, probeMs: 15, multiCreate: 500 },
      bootStorm: true,
      scheduler: { nodes: [10], requests: 20, budgetSeconds: 30 },
      scaleOut: [1],
      failover: { nodes: 9, reportIntervalS: 1, serviceDownTimeS: 3 },
      profileDir: null,
      // A cheaper password hash keeps the start quick; the rest is the default configuration.
      cloudEnv: { ORRERY_IDENTITY__PASSWORD_HASH_COST: '1024' },
      keepState: false,
      outDir: dir,
      chartPath: join(dir, 'chart.svg'),
      command: 'smoke test',
    }, silentProgress);
  });
  after(() => {
    if (dir) rmSync(dir, { recursive: true, force: true });
  });

  it('boots, lists and deletes every server and measures the cloud process', () => {
    const [storm] = out.results.bootStorm;
    assert.ok(storm);
    assert.equal(storm.n, 5);
    assert.equal(storm.active, 5, `failures: ${storm.failures.join('; ')}`);
    assert.equal(storm.failed, 0);
    assert.ok(storm.serversPerSecond > 0);
    assert.equal(storm.postMs.count, 5);
    assert.ok(storm.postMs.p50 > 0);
    assert.ok(storm.probeGetMs.count >= 1 && storm.probeGetMs.p99 > 0);
    assert.equal(storm.multiCreate?.count, 5);
    assert.equal(storm.multiCreate.active, 5, `failures: ${storm.failures.join('; ')}`);
    assert.ok(storm.multiCreate.probeGetMs.count >= 1);
    assert.equal(storm.listDetailMs.count, 2);
    assert.ok(storm.listDetailMs.p50 > 0);
    assert.ok(storm.listedServers >= 5);
    assert.equal(storm.deleteMs.count, 5);
    assert.ok(storm.deleteSeconds > 0);
    assert.ok(storm.cloud && storm.cloud.peakRssMb > 0 && storm.cloud.cpuSeconds > 0);
  });

  it('asks the scheduler for every request, with real claims', () => {
    const [sched] = out.results.scheduler;
    assert.ok(sched);
    assert.equal(sched.nodes, 10);
    assert.equal(sched.decisions, 20);
    assert.equal(sched.placed + sched.noValidHost, 20);
    assert.ok(sched.placed > 0);
    assert.ok(sched.decisionsPerSecond > 0 && sched.latencyMs.p99 > 0 && sched.peakRssMb > 0);
  });

  it('runs the storm on the multi-process deployment', { skip: scaleOutSkip }, () => {
    const [scaleOut] = out.results.scaleOut;
    assert.ok(scaleOut);
    assert.equal(scaleOut.computeProcesses, 1);
    assert.equal(scaleOut.skipped, null);
    const [storm] = scaleOut.storms;
    assert.equal(storm?.active, 5, `failures: ${storm?.failures.join('; ')}`);
    assert.ok(storm.serversPerSecond > 0 && storm.cloud && storm.cloud.peakRssMb > 0);
  });

  it('runs the failover scenario: kill -9 of a compute of a cluster, the nodes served again, a reboot done, the rejoin', { skip: scaleOutSkip }, () => {
    const f = out.results.failover!;
    assert.equal(f.skipped, null);
    assert.ok(f.victimNodes > 0);
    assert.ok(f.everyNodeServedS! > 0 && f.firstRebootS! > 0, JSON.stringify(f));
    assert.ok(f.movedOnRejoin! > 0 && f.movedOnRejoin! <= 1, JSON.stringify(f));
    assert.match(out.markdown, /### Failover/);
  });

  it('says why it skipped the scale-out storm when its back-ends are missing', { skip: scaleOutSkip === false && 'the back-ends are here' }, () => {
    assert.match(out.results.scaleOut[0]?.skipped ?? '', /not reachable|cannot reach|missing/);
    assert.match(out.markdown, /1 compute process: skipped: /);
  });

  it('writes the JSON with the revision, date and machine', () => {
    assert.ok(existsSync(out.jsonPath));
    const json = JSON.parse(readFileSync(out.jsonPath, 'utf8')) as BenchResults;
    assert.equal(json.schema, 1);
    assert.ok(!Number.isNaN(Date.parse(json.date)));
    assert.ok(json.machine.cores > 0 && json.machine.memoryGiB > 0);
    assert.match(json.machine.node, /^v\d+/);
    assert.ok('revision' in json.git);
    assert.equal(json.bootStorm[0]?.active, 5);
    assert.ok(json.targets.length > 0);
  });

  it('prints a Markdown table and draws an SVG chart', () => {
    assert.match(out.markdown, /### Boot storm/);
    assert.match(out.markdown, /\| 5 \| 2 \| [\d.]+ \|/);
    assert.match(out.markdown, /### Scheduler scale/);
    assert.match(out.markdown, /### Scale-out/);
    const svg = readFileSync(out.chartPath, 'utf8');
    assert.match(svg, /^<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.match(svg, /Boot storm throughput/);
    assert.match(svg, /<circle cx="[\d.]+" cy="[\d.]+"/);
    assert.doesNotMatch(svg, /NaN|Infinity/);
  });
});
