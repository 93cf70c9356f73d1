import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const API_NAMES = ['identity', 'image', 'compute', 'placement', 'network'] as const;

async function health(base: string, headers: Record<string, string> = {}): Promise<{ status: number; type: string; text: string }> {
  const res = await fetch(`${base}/healthcheck`, { headers });
  return { status: res.status, type: res.headers.get('content-type') ?? '', text: await res.text() };
}

describe('GET /healthcheck (all-in-one)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'hc', 'hc-user');
  });
  after(async () => {
    await cloud?.close();
  });

  it('answers 200 OK as text on every API, without a token', async () => {
    for (const name of API_NAMES) {
      const r = await health(cloud.urls[name]);
      assert.deepEqual([r.status, r.text], [200, 'OK'], name);
      assert.match(r.type, /^text\/plain/, name);
      const head = await fetch(`${cloud.urls[name]}/healthcheck`, { method: 'HEAD' });
      assert.equal(head.status, 200, `${name} HEAD`);
    }
  });

  it('answers the detail only to an admin token', async () => {
    const json = { accept: 'application/json' };
    for (const who of [undefined, member, { token: 'gAAAAnot-a-token', projectId: '', userId: '' }]) {
      const r = await health(cloud.urls.compute, who ? { ...json, 'x-auth-token': who.token } : json);
      assert.equal(r.status, 200);
      assert.deepEqual(JSON.parse(r.text), { detailed: false, reasons: ['OK'] });
    }
    const r = await health(cloud.urls.compute, { ...json, 'x-auth-token': admin.token });
    const body = JSON.parse(r.text) as { detailed: boolean; reasons: Array<{ class: string; reason: string }>; services: Array<{ binary: string; host: string; state: string; version: string; last_heartbeat: string }> };
    assert.equal(body.detailed, true);
    assert.deepEqual(body.reasons.map((x) => [x.class, x.reason]), [['DatabaseCheck', 'OK'], ['BusCheck', 'OK']]);
    const services = body.services.map((s) => `${s.binary}@${s.host} ${s.state}`).sort();
    assert.deepEqual(services.filter((s) => /nova-(compute|conductor|scheduler)/.test(s)), ['nova-compute@compute1 up', 'nova-conductor@localhost up', 'nova-scheduler@localhost up']);
    for (const s of body.services) {
      assert.match(s.version, /^\d+\.\d+/);
      assert.ok(Number.isFinite(Date.parse(s.last_heartbeat)), `${s.binary} heartbeat ${s.last_heartbeat}`);
    }
    assert.doesNotMatch(r.text, new RegExp(admin.token));
  });
});

const skip = pgSkip || (await rabbitSkip());

describe('GET /healthcheck when the database or the broker is lost (orrery api on PostgreSQL and RabbitMQ)', { skip }, () => {
  const cleanups: Array<() => Promise<void>> = [];
  let d: Deployment;
  let dbProxy: TcpProxy;
  let busProxy: TcpProxy;
  before(async () => {
    const pg: TestPgDatabase = await createPgDatabase();
    cleanups.push(() => pg.drop());
    const pgUrl = new URL(pg.url);
    dbProxy = await TcpProxy.start(pgUrl.hostname, Number(pgUrl.port || 5432));
    cleanups.push(() => dbProxy.close());
    busProxy = await TcpProxy.start('127.0.0.1', Number(new URL(RABBIT_URL.replace(/^rabbit:/, 'http:')).port || 5672));
    cleanups.push(() => busProxy.close());
    pgUrl.port = String(dbProxy.port);
    d = await startDeployment({ brokerUrl: RABBIT_URL, viaPort: busProxy.port, databaseUrl: pgUrl.href, conductors: 0, schedulers: 0, computes: [] });
    cleanups.push(() => d.stop());
  });
  after(async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  });

  const status = async (want: number, reason: RegExp): Promise<string> => waitFor(`healthcheck ${want}`, async () => {
    const r = await health(d.urls.compute);
    return r.status === want && reason.test(r.text) ? r.text : undefined;
  }, 30_000);

  it('503 with the reason while the broker is cut off, 200 once it is back', async () => {
    assert.equal(await status(200, /^OK$/), 'OK');
    busProxy.cut();
    assert.equal(await status(503, /bus/), 'message bus disconnected (reconnecting)');
    busProxy.restore();
    assert.equal(await status(200, /^OK$/), 'OK');
  });

  it('503 with the reason while the database is cut off, 200 once it is back', async () => {
    dbProxy.cut();
    assert.match(await status(503, /database/), /^database unreachable: /);
    dbProxy.restore();
    assert.equal(await status(200, /^OK$/), 'OK');
  });
});
