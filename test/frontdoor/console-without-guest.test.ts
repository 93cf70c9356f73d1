import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * A build that failed before the driver made a guest leaves a server in ERROR on its host with
 * nothing to read: its console output is Nova's 404, not a 500 (what `openstack console log
 * show` met under libvirt when QEMU could not open the disk).
 */
describe('console output of a server whose guest was never made', () => {
  let cloud: TestCloud;
  let admin: Session;
  let backend: FakeBackend;
  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1', scheduler_max_attempts: '1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    backend = openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', 'compute1'), 'compute1'));
  });
  after(async () => {
    backend?.close();
    await cloud?.close();
  });

  it('answers 404 in Nova\'s format', async () => {
    const imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    backend.injectFault({ op: 'spawn', kind: 'error', code: 'DriverFault', times: null });
    const r = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name: 'no-guest', imageRef: imageId, flavorRef: '1', networks: 'none' } }, { 'openstack-api-version': 'compute 2.37' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    const s = await waitFor('ERROR', async () => {
      const body = (await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).body.server;
      return body.status === 'ERROR' ? body : undefined;
    });
    assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute1');
    const out = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} });
    assert.equal(out.status, 404, JSON.stringify(out.body));
    assert.deepEqual(out.body, { itemNotFound: { code: 404, message: 'Guest does not have a console available.' } });
  });
});
