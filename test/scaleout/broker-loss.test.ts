import { after, describe, it, type TestContext } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/common/time.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { PrivateBroker, privateBrokerSkip, RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import {
  assertFaultInvariants, FAULT_ROUNDS, loginTo, raiseQuota, ROOMY_COMPUTE_ENV, roundSummary, seededImage, stormWith, type FaultOutcome,
} from './support.js';

const skip = pgSkip || (await rabbitSkip());
const HOSTS = ['compute1', 'compute2'];

/**
 * Losing the broker during a storm of 60 creates, FAULT_ROUNDS times on one deployment, with
 * the fault suite's invariants after each round (faults.test.ts): every accepted server ACTIVE or
 * ERROR with a fault, none lost, spawned at most once, no leaked claim, every process running.
 */
describe('losing the broker during a boot storm', { skip }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  async function database(): Promise<TestPgDatabase> {
    const pg = await createPgDatabase();
    cleanups.push(() => pg.drop());
    return pg;
  }

  async function rounds(t: TestContext, d: Deployment, fault: () => Promise<void>, check: (o: FaultOutcome, accepted: Set<string>) => void): Promise<void> {
    const admin = await loginTo(d.urls.identity);
    await raiseQuota(d, admin, 100 * FAULT_ROUNDS);
    const imageId = await seededImage(d, admin);
    const all: string[] = [];
    for (let round = 1; round <= FAULT_ROUNDS; round++) {
      const started = Date.now();
      const storm = await stormWith(d, admin, { prefix: `storm${round}-`, imageId, fault });
      all.push(...storm.accepted);
      const outcome = await assertFaultInvariants(d, admin, all, HOSTS);
      t.diagnostic(roundSummary(round, storm, outcome, Date.now() - started, new Set(storm.accepted)));
      check(outcome, new Set(storm.accepted));
    }
  }

  it('connections cut for 5 s and restored through a proxy → every server ACTIVE, each spawned exactly once', async (t) => {
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(RABBIT_URL.replace(/^rabbit:/, 'http:')).port || 5672));
    cleanups.push(() => proxy.close());
    const d = await startDeployment({
      brokerUrl: RABBIT_URL, viaPort: proxy.port, databaseUrl: (await database()).url, conductors: 1, schedulers: 1,
      ini: { DEFAULT: { service_down_time: '60' } }, computes: HOSTS.map((host) => ({ host, env: ROOMY_COMPUTE_ENV })),
    });
    cleanups.push(() => d.stop());
    await rounds(t, d, async () => {
      await sleep(300);
      proxy.cut();
      await sleep(5_000);
      proxy.restore();
    }, (outcome, accepted) => {
      // A cut shorter than the RPC timeout loses nothing: no build has to fail.
      const failed = outcome.error.filter((v) => accepted.has(v.id)).map((v) => `${v.name}: ${v.fault?.message ?? ''}`);
      assert.deepEqual(failed, []);
    });
  });

  it('a broker stopped and restarted mid-storm → every server ACTIVE or ERROR with a fault, none stuck in BUILD', { skip: privateBrokerSkip() }, async (t) => {
    const broker = await PrivateBroker.launch();
    cleanups.push(() => broker.dispose());
    const d = await startDeployment({
      brokerUrl: broker.url, defaultVhost: true, databaseUrl: (await database()).url, conductors: 1, schedulers: 1,
      ini: { DEFAULT: { service_down_time: '60' } }, computes: HOSTS.map((host) => ({ host, env: ROOMY_COMPUTE_ENV })),
    });
    cleanups.push(() => d.stop());
    await rounds(t, d, async () => {
      await sleep(300);
      await broker.stop();
      await broker.start();
    }, () => undefined);
  });
});
