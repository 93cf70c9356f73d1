// Remote consoles in the multi-process deployment (PostgreSQL, RabbitMQ): the console proxy of
// the `orrery api` process asks the compute process over the bus (compute RPC 1.5 get_console)
// where the guest's console listens, and bridges to it.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { bootMany, loginTo, seededImage, waitSettled } from '../scaleout/support.js';
import { ConsoleClient, novncSocketUrl } from './support.js';

const skip = pgSkip || (await rabbitSkip());

describe('remote consoles across processes', { skip }, () => {
  let pg: TestPgDatabase;
  let d: Deployment;

  before(async () => {
    pg = await createPgDatabase();
    d = await startDeployment({ brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 1, schedulers: 1, computes: [{ host: 'compute1' }] });
  });
  after(async () => {
    await d?.stop();
    await pg?.drop();
  });

  it('a server on the compute process has its serial and VNC consoles through the API process\'s proxies', async () => {
    const admin = await loginTo(d.urls.identity);
    const [id] = await bootMany(d, admin, 1, 'mp-console', await seededImage(d, admin));
    const [s] = await waitSettled(d, admin, [id!]);
    assert.equal(s!.status, 'ACTIVE');
    const mv = { 'openstack-api-version': 'compute 2.6' };
    const serial = await api(admin, 'POST', `${d.urls.compute}/v2.1/servers/${id}/remote-consoles`, { remote_console: { protocol: 'serial', type: 'serial' } }, mv);
    assert.equal(serial.status, 200, JSON.stringify(serial.body));
    const tty = new ConsoleClient(serial.body.remote_console.url);
    await tty.until(/mp-console0 login: $/);
    tty.close();
    const vnc = await api(admin, 'POST', `${d.urls.compute}/v2.1/servers/${id}/remote-consoles`, { remote_console: { protocol: 'vnc', type: 'novnc' } }, mv);
    assert.equal(vnc.status, 200, JSON.stringify(vnc.body));
    const screen = new ConsoleClient(novncSocketUrl(vnc.body.remote_console.url));
    await screen.until(/^RFB 003\.008\n/);
    screen.close();
  });
});
