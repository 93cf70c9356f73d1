import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import type { Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { PrivateBroker, privateBrokerSkip, RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { bootMany, loginTo, raiseQuota, seededImage, spawnCounts, waitSettled } from './support.js';

const skip = pgSkip || (await rabbitSkip());
const HOSTS = ['compute1', 'compute2'];
const STORM = 40;

/** Every instance the back-ends spawned, with how often: each at most once, and every ACTIVE one exactly once. */
function assertSpawnedOnce(d: Deployment, ids: string[], active: Set<string>): void {
  const counts = new Map<string, number>();
  for (const host of HOSTS) for (const [uuid, n] of spawnCounts(d, host)) counts.set(uuid, (counts.get(uuid) ?? 0) + n);
  for (const id of ids) {
    const n = counts.get(id) ?? 0;
    if (active.has(id)) assert.equal(n, 1, `${id} spawned ${n} times`);
    else assert.ok(n <= 1, `${id} spawned ${n} times`);
  }
}

async function storm(d: Deployment, during: () => Promise<void>): Promise<{ ids: string[]; admin: Session }> {
  const admin = await loginTo(d.urls.identity);
  await raiseQuota(d, admin, 200);
  const imageId = await seededImage(d, admin);
  const creating = bootMany(d, admin, STORM, 'storm', imageId);
  await during();
  return { ids: await creating, admin };
}

describe('losing the broker during a boot storm', { skip }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  after(async () => {
    for (const c of cleanups.reverse()) await c();
  });

  async function database(): Promise<TestPgDatabase> {
    const pg = await createPgDatabase();
    cleanups.push(() => pg.drop());
    return pg;
  }

  it('connections cut and restored through a proxy → every server ACTIVE, each spawned exactly once', async () => {
    const proxy = await TcpProxy.start('127.0.0.1', Number(new URL(RABBIT_URL.replace(/^rabbit:/, 'http:')).port || 5672));
    cleanups.push(() => proxy.close());
    const d = await startDeployment({
      brokerUrl: RABBIT_URL, viaPort: proxy.port, databaseUrl: (await database()).url, conductors: 1, schedulers: 1,
      ini: { DEFAULT: { service_down_time: '60' } }, computes: HOSTS.map((host) => ({ host })),
    });
    cleanups.push(() => d.stop());
    const { ids, admin } = await storm(d, async () => {
      await new Promise((r) => setTimeout(r, 300));
      proxy.cut();
      await new Promise((r) => setTimeout(r, 5_000));
      proxy.restore();
    });
    const servers = await waitSettled(d, admin, ids, 180_000);
    const notActive = servers.filter((s) => s.status !== 'ACTIVE').map((s) => `${s.name}: ${s.status} ${s.fault?.message ?? ''}`);
    assert.deepEqual(notActive, []);
    assertSpawnedOnce(d, ids, new Set(ids));
  });

  it('a broker stopped and restarted mid-storm → every server ACTIVE or ERROR with a fault, none stuck in BUILD', { skip: privateBrokerSkip() }, async () => {
    const broker = await PrivateBroker.launch();
    cleanups.push(() => broker.dispose());
    const d = await startDeployment({
      brokerUrl: broker.url, defaultVhost: true, databaseUrl: (await database()).url, conductors: 1, schedulers: 1,
      ini: { DEFAULT: { service_down_time: '60' } }, computes: HOSTS.map((host) => ({ host })),
    });
    cleanups.push(() => d.stop());
    const { ids, admin } = await storm(d, async () => {
      await new Promise((r) => setTimeout(r, 300));
      await broker.stop();
      await broker.start();
    });
    const servers = await waitSettled(d, admin, ids, 180_000);
    for (const s of servers) {
      assert.ok(s.status === 'ACTIVE' || (s.status === 'ERROR' && s.fault?.message), `${s.name}: ${s.status}`);
    }
    assertSpawnedOnce(d, ids, new Set(servers.filter((s) => s.status === 'ACTIVE').map((s) => s.id)));
  });
});
