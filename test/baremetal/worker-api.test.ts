import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Fake hardware end to end through the Bare Metal API: each verb is validated by the API and
 * carried out by the worker in the conductor; the node is then seen in its final state.
 */
describe('bare metal API and worker, fake hardware', () => {
  let cloud: TestCloud;
  let admin: Session;
  const headers = { 'x-openstack-ironic-api-version': '1.46' };
  const call = (method: string, path: string, body?: unknown) => api(admin, method, `${cloud.urls.baremetal}${path}`, body, headers);

  before(async () => {
    cloud = await startTestCloud({ baremetal: { sync_power_state_interval: '0' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => { await cloud?.close(); });

  const resting = (uuid: string, state: string) => waitFor(`node ${state}`, async () => {
    const res = await call('GET', `/v1/nodes/${uuid}`);
    return res.body.provision_state === state && res.body.target_provision_state === null && res.body.reservation === null ? res.body : undefined;
  });
  const poweredTo = (uuid: string, state: string) => waitFor(`node ${state}`, async () => {
    const res = await call('GET', `/v1/nodes/${uuid}`);
    return res.body.power_state === state && res.body.target_power_state === null ? res.body : undefined;
  });
  const provision = async (uuid: string, target: string): Promise<void> => {
    const res = await call('PUT', `/v1/nodes/${uuid}/states/provision`, { target });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  };
  const power = async (uuid: string, target: string): Promise<void> => {
    const res = await call('PUT', `/v1/nodes/${uuid}/states/power`, { target });
    assert.equal(res.status, 202, JSON.stringify(res.body));
  };

  it('enroll, manage, provide, power on and off, deploy, undeploy, manage, delete', async () => {
    const made = await call('POST', '/v1/nodes', { name: `fake-${randomUUID().slice(0, 8)}`, driver: 'fake-hardware', resource_class: 'baremetal' });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const uuid = made.body.uuid as string;
    assert.equal(made.body.provision_state, 'enroll');
    await provision(uuid, 'manage');
    assert.equal((await resting(uuid, 'manageable')).power_state, 'power off');
    await provision(uuid, 'provide');
    await resting(uuid, 'available');
    await power(uuid, 'power on');
    await poweredTo(uuid, 'power on');
    await power(uuid, 'power off');
    await poweredTo(uuid, 'power off');
    const instance = randomUUID();
    const patched = await call('PATCH', `/v1/nodes/${uuid}`, [
      { op: 'add', path: '/instance_uuid', value: instance },
      { op: 'add', path: '/instance_info/image_source', value: randomUUID() },
    ]);
    assert.equal(patched.status, 200, JSON.stringify(patched.body));
    await provision(uuid, 'active');
    const active = await resting(uuid, 'active');
    assert.equal(active.power_state, 'power on');
    assert.equal(active.instance_uuid, instance);
    await provision(uuid, 'deleted');
    const back = await resting(uuid, 'available');
    assert.equal(back.power_state, 'power off');
    assert.equal(back.instance_uuid, null);
    assert.equal(back.last_error, null);
    await provision(uuid, 'manage');
    await resting(uuid, 'manageable');
    const gone = await call('DELETE', `/v1/nodes/${uuid}`);
    assert.equal(gone.status, 204, JSON.stringify(gone.body));
  });
});
