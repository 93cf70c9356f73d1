import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createLogger } from '../../src/common/logging.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const REQ_ID = /^req-[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
const PASSWORD = `Adm1n-${randomUUID()}`;
const MV = { 'openstack-api-version': 'compute 2.37' };

type Line = Record<string, unknown>;

/** The all-in-one in this process, its log in a file the tests read. */
describe('request log and request ids', () => {
  let dir: string;
  let logFile: string;
  let cloud: TestCloud;
  let admin: Session;
  const lines = (): Line[] => readFileSync(logFile, 'utf8').trim().split('\n').map((l) => JSON.parse(l) as Line);
  const requestLine = (id: string): Line | undefined => lines().find((l) => l.msg === 'request' && l.request_id === id);

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'orrery-reqlog-'));
    logFile = join(dir, 'orrery.log');
    cloud = await startTestCloud({ identity: { admin_password: PASSWORD } }, createLogger('test', { level: 'info', file: logFile }));
    admin = await login(cloud, 'admin', PASSWORD, 'admin');
  });
  after(async () => {
    await cloud?.close();
    rmSync(dir, { recursive: true, force: true });
  });

  it('every API returns its own req-<uuid> in x-openstack-request-id, and logs one line for it', async () => {
    const u = cloud.urls;
    const probes = { identity: `${u.identity}/v3`, image: `${u.image}/v2/images`, compute: `${u.compute}/v2.1/servers`, placement: `${u.placement}/`, network: `${u.network}/v2.0/networks`, metadata: `${u.metadata}/openstack` };
    const seen = new Set<string>();
    for (const [name, url] of Object.entries(probes)) {
      const res = await api(admin, 'GET', url);
      const id = res.headers.get('x-openstack-request-id');
      assert.match(id ?? '', REQ_ID, `${name}: ${id}`);
      assert.ok(!seen.has(id!), `${name} reused an id`);
      seen.add(id!);
      if (name === 'compute') assert.equal(res.headers.get('x-compute-request-id'), id);
      const line = requestLine(id!);
      assert.ok(line, `${name}: no request line for ${id}`);
      assert.equal(line.api, name);
      assert.equal(line.method, 'GET');
      assert.equal(line.status, res.status);
      assert.equal(typeof line.ms, 'number');
    }
  });

  it('logs the route pattern, never the raw URL, and who asked by id', async () => {
    const uuid = randomUUID();
    const res = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${uuid}?all_tenants=1`, undefined, MV);
    assert.equal(res.status, 404);
    const line = requestLine(res.headers.get('x-openstack-request-id')!)!;
    assert.equal(line.route, '/v2.1/servers/:server_id');
    assert.ok(!JSON.stringify(line).includes(uuid));
    assert.equal(line.user_id, admin.userId);
    assert.equal(line.project_id, admin.projectId);
  });

  it('logs a refused request (401) with its id and no user', async () => {
    const res = await api({ token: 'gAAAAnot-a-real-token-but-shaped-like-one' }, 'GET', `${cloud.urls.compute}/v2.1/flavors`);
    assert.equal(res.status, 401);
    const line = requestLine(res.headers.get('x-openstack-request-id')!)!;
    assert.equal(line.status, 401);
    assert.equal(line.user_id, null);
  });

  it('keeps a well-formed X-OpenStack-Request-ID as the global request id beside its own, and ignores a malformed one', async () => {
    const global = `req-${randomUUID()}`;
    const res = await api(admin, 'GET', `${cloud.urls.image}/v2/images`, undefined, { 'x-openstack-request-id': global });
    const own = res.headers.get('x-openstack-request-id')!;
    assert.match(own, REQ_ID);
    assert.notEqual(own, global);
    assert.equal(requestLine(own)!.global_request_id, global);

    for (const bad of ['req-not-a-uuid', `${global}x`, `REQ-${randomUUID()}`, `req-${randomUUID()} ; drop`]) {
      const r = await api(admin, 'GET', `${cloud.urls.image}/v2/images`, undefined, { 'x-openstack-request-id': bad });
      const line = requestLine(r.headers.get('x-openstack-request-id')!)!;
      assert.equal(line.global_request_id, undefined, bad);
      assert.ok(!JSON.stringify(lines()).includes(bad), `${bad} was logged`);
    }
  });

  it('follows a boot by its request id through the conductor and compute lines, and logs its lifecycle to deletion', async () => {
    const image = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id as string;
    const res = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name: 'logged', imageRef: image, flavorRef: '1', networks: 'none', adminPass: 'Gu3st-Pw!' } }, MV);
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const id = res.headers.get('x-openstack-request-id')!;
    const uuid = res.body.server.id as string;
    await waitFor('the server ACTIVE', async () => (await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${uuid}`)).body.server.status === 'ACTIVE' || undefined);
    const stop = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${uuid}/action`, { 'os-stop': null });
    await waitFor('the server SHUTOFF', async () => (await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${uuid}`)).body.server.status === 'SHUTOFF' || undefined);
    const del = await api(admin, 'DELETE', `${cloud.urls.compute}/v2.1/servers/${uuid}`);
    await waitFor('the server gone', async () => (await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${uuid}`)).status === 404 || undefined);
    const ofBoot = lines().filter((l) => l.request_id === id);
    const lifecycle = (event: string, reqId: string) => lines().find((l) => l.lifecycle === event && l.instance === uuid && l.request_id === reqId);
    assert.ok(ofBoot.some((l) => l.msg === 'request' && l.route === '/v2.1/servers'));
    assert.ok(ofBoot.some((l) => l.msg === 'scheduling decided' && l.service === 'scheduler'));
    for (const event of ['scheduled', 'spawning', 'active']) assert.ok(lifecycle(event, id), `no ${event} line with ${id}`);
    assert.equal(lifecycle('scheduled', id)!.service, 'conductor');
    assert.equal(lifecycle('active', id)!.service, 'compute');
    const off = lifecycle('power_state', stop.headers.get('x-openstack-request-id')!);
    assert.ok(off, 'no power state line for the stop');
    assert.equal(off.event, 'compute_stop_instance');
    assert.ok(lifecycle('deleted', del.headers.get('x-openstack-request-id')!), 'no deleted line for the delete');
    const text = readFileSync(logFile, 'utf8');
    for (const secret of [PASSWORD, admin.token, 'Gu3st-Pw!']) assert.ok(!text.includes(secret), 'a secret was logged');
  });
});
