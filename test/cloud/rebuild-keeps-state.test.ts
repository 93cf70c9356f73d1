import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const MV = { 'openstack-api-version': 'compute 2.93' };

/** Rebuild through the whole cloud (fake driver): the server comes back in the state it was in. */
describe('rebuild keeps the power state', () => {
  let cloud: TestCloud;
  let admin: Session;
  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => {
    await cloud?.close();
  });

  const server = (id: string) => api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV);
  const settled = (id: string, what: string) => waitFor(what, async () => {
    const s = (await server(id)).body.server;
    return s['OS-EXT-STS:task_state'] === null && s.status !== 'BUILD' ? s : undefined;
  });

  it('a SHUTOFF server rebuilt stays SHUTOFF (powered off again after the spawn); an ACTIVE one stays ACTIVE', async () => {
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const imageRef = images.body.images[0].id as string;
    const boot = async (name: string): Promise<string> => {
      const created = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name, imageRef, flavorRef: '1', networks: 'none' } }, MV);
      assert.equal(created.status, 202, JSON.stringify(created.body));
      assert.equal((await settled(created.body.server.id, `${name} to build`)).status, 'ACTIVE');
      return created.body.server.id as string;
    };
    const stopped = await boot('off');
    assert.equal((await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${stopped}/action`, { 'os-stop': null }, MV)).status, 202);
    assert.equal((await settled(stopped, 'the stop')).status, 'SHUTOFF');
    const running = await boot('on');

    for (const id of [stopped, running]) {
      const r = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/action`, { rebuild: { imageRef } }, MV);
      assert.equal(r.status, 202, JSON.stringify(r.body));
    }
    const off = await settled(stopped, 'the rebuild of the stopped server');
    assert.equal(off.status, 'SHUTOFF');
    assert.equal(off['OS-EXT-STS:power_state'], 4);
    assert.equal((await settled(running, 'the rebuild of the running server')).status, 'ACTIVE');
  });
});
