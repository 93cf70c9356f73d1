import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { loginTo, seededImage } from '../scaleout/support.js';

const skip = pgSkip || (await rabbitSkip());
const ADMIN_PASSWORD = `Adm1n-${randomUUID()}`;
const SERVICE_PASSWORD = `Svc-${randomUUID()}`;
const GUEST_PASSWORD = `Gu3st-${randomUUID()}`;
const MV = { 'openstack-api-version': 'compute 2.37' };
/** Any token of ours (auth/tokens.ts), whoever's. */
const TOKEN_SHAPE = /gAAAA[A-Za-z0-9_-]{16,}/;

type Line = Record<string, unknown>;

/**
 * The multi-process deployment on PostgreSQL and RabbitMQ (api, conductor, scheduler and
 * compute as separate processes, at the log level operators run: info): one boot is followed
 * by its request id through every process's log, and no run that logs in and boots logs a
 * password or a token.
 */
describe('logs across processes', { skip }, () => {
  let pg: TestPgDatabase;
  let d: Deployment;
  let admin: Session;
  /** The JSON lines of one service's output (its banner on standard error is not JSON). */
  const linesOf = (service: string): Line[] => d.service(service).output().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Line);

  before(async () => {
    pg = await createPgDatabase();
    d = await startDeployment({
      brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 1, schedulers: 1, computes: [{ host: 'compute1' }],
      ini: { identity: { admin_password: ADMIN_PASSWORD }, service_user: { password: SERVICE_PASSWORD } },
    });
    admin = await loginTo(d.urls.identity, 'admin', ADMIN_PASSWORD);
  });
  after(async () => {
    await d?.stop();
    await pg?.drop();
  });

  it('follows one boot by its request id from the API through the conductor, the scheduler and the compute, with no secret in any log', async () => {
    const image = await seededImage(d, admin);
    const res = await api(admin, 'POST', `${d.urls.compute}/v2.1/servers`, {
      server: { name: 'followed', imageRef: image, flavorRef: '1', networks: 'none', adminPass: GUEST_PASSWORD },
    }, MV);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.headers.get('x-openstack-request-id')!;
    const uuid = res.body.server.id as string;
    await waitFor('the server ACTIVE', async () => (await api(admin, 'GET', `${d.urls.compute}/v2.1/servers/${uuid}`)).body.server.status === 'ACTIVE' || undefined, 60_000);
    // The compute writes its active line before the conductor answers the update that makes the
    // server ACTIVE; the line is there when the API shows it.
    const ofBoot = (service: string) => linesOf(service).filter((l) => l.request_id === id);

    const apiLine = ofBoot('api').find((l) => l.msg === 'request');
    assert.ok(apiLine, 'no request line in the API log');
    assert.deepEqual([apiLine.method, apiLine.route, apiLine.status, apiLine.user_id], ['POST', '/v2.1/servers', 202, admin.userId]);

    const conductor = ofBoot('conductor1');
    assert.ok(conductor.some((l) => l.lifecycle === 'scheduled' && l.instance === uuid && l.host === 'compute1'), 'no scheduled line in the conductor log');

    const scheduler = ofBoot('scheduler1');
    assert.ok(scheduler.some((l) => l.msg === 'scheduling decided' && l.instances === 1), 'no decision line in the scheduler log');
    assert.ok(scheduler.some((l) => l.msg === 'selected destination' && l.instance === uuid), 'no claim line in the scheduler log (debug)');

    const compute = ofBoot('compute1');
    for (const event of ['spawning', 'active']) assert.ok(compute.some((l) => l.lifecycle === event && l.instance === uuid), `no ${event} line in the compute log`);

    const del = await api(admin, 'DELETE', `${d.urls.compute}/v2.1/servers/${uuid}`);
    assert.equal(del.status, 204);
    const delId = del.headers.get('x-openstack-request-id')!;
    await waitFor('the deleted lines', async () => (linesOf('compute1').some((l) => l.lifecycle === 'deleted' && l.request_id === delId)
      && linesOf('conductor1').some((l) => l.lifecycle === 'deleted' && l.request_id === delId)) || undefined);

    const secrets = [ADMIN_PASSWORD, SERVICE_PASSWORD, GUEST_PASSWORD, admin.token];
    for (const [name, service] of d.services) {
      const out = service.output();
      for (const s of secrets) assert.ok(!out.includes(s), `${name} logged a secret`);
      assert.doesNotMatch(out, TOKEN_SHAPE, `${name} logged a token`);
    }
  });
});
