import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { PowerState } from '@orrery/virt-api';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

/** Driver faults at the seam: recorded on the instance action, rescheduled or failed, never a crash. */
describe('driver faults and power-state sync', () => {
  let cloud: TestCloud;
  let admin: Session;
  let imageId: string;
  const backends: Record<string, FakeBackend> = {};

  before(async () => {
    cloud = await startTestCloud({ compute: { stopped_event_delay: '0' }, fake: { watch_interval_ms: '100' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    for (const host of ['compute1', 'compute2']) {
      backends[host] = openFakeBackend(fakeBackendPath(cloud.config.statePath('compute', host), host));
    }
  });
  after(async () => {
    for (const b of Object.values(backends)) b.close();
    await cloud?.close();
  });

  const server = (id: string) => api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV);
  const settled = (id: string, busy = ['BUILD']) => waitFor(`${id} to settle`, async () => {
    const s = (await server(id)).body.server;
    return busy.includes(s.status) || s['OS-EXT-STS:task_state'] ? undefined : s;
  });
  const boot = async (name: string, extra: Record<string, unknown> = {}): Promise<string> => {
    const r = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
      server: { name, imageRef: imageId, flavorRef: '1', networks: 'none', ...extra },
    }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    return r.body.server.id;
  };
  const events = async (id: string) => {
    const actions = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}/os-instance-actions`, undefined, MV);
    const out: Array<{ action: string; event: string; result: string; traceback: string | null }> = [];
    for (const a of actions.body.instanceActions) {
      const detail = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}/os-instance-actions/${a.request_id}`, undefined, MV);
      for (const e of detail.body.instanceAction.events) out.push({ action: a.action, ...e });
    }
    return out;
  };

  it('a retryable spawn failure is rescheduled to another host', async () => {
    backends.compute1!.injectFault({ op: 'spawn', kind: 'error', code: 'BackendUnavailable', times: null });
    try {
      // Forced onto compute1, it has nowhere else to go: ERROR once its attempt there fails.
      const forced = await boot('forced', { availability_zone: 'nova:compute1' });
      const f = await settled(forced);
      assert.equal(f.status, 'ERROR');
      assert.match(f.fault.message, /No valid host/);
      // Two boots in turn: spreading sends at least one to the emptier compute1 first.
      const ids = [await boot('retry-a')];
      await settled(ids[0]!);
      ids.push(await boot('retry-b'));
      await settled(ids[1]!);
      let failedAttempts = 0;
      for (const id of ids) {
        const s = (await server(id)).body.server;
        assert.equal(s.status, 'ACTIVE');
        assert.equal(s['OS-EXT-SRV-ATTR:host'], 'compute2');
        assert.equal(backends.compute1!.getInstance(id), undefined, 'the failed spawn left a guest behind');
        failedAttempts += (await events(id)).filter((e) => e.event === 'compute_build_and_run_instance' && e.result === 'Error').length;
      }
      assert.ok(failedAttempts >= 1, 'no boot went through a failed attempt on compute1');
    } finally {
      backends.compute1!.clearFaults();
    }
  });

  it('a raw error escaping the driver is a driver fault on the instance action, and compute carries on', async () => {
    const id = await boot('crashy', { availability_zone: 'nova:compute2' });
    assert.equal((await settled(id)).status, 'ACTIVE');
    backends.compute2!.injectFault({ op: 'powerOff', kind: 'crash', message: 'segfault in fake', times: 1 });
    const stop = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/action`, { 'os-stop': null }, MV);
    assert.equal(stop.status, 202);
    const s = await settled(id);
    assert.equal(s.status, 'ACTIVE', 'a failed stop leaves the instance as it was');
    const ev = (await events(id)).find((e) => e.event === 'compute_stop_instance');
    assert.equal(ev?.result, 'Error');
    assert.match(ev!.traceback ?? '', /DriverFault.*segfault in fake/);
    // The same compute service still works.
    await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/action`, { 'os-stop': null }, MV);
    assert.equal((await settled(id)).status, 'SHUTOFF');
  });

  it('a guest powered off behind Orrery\'s back shows SHUTOFF through the driver\'s events', async () => {
    const id = await boot('behind-back', { availability_zone: 'nova:compute1' });
    assert.equal((await settled(id)).status, 'ACTIVE');
    backends.compute1!.setPowerState(id, PowerState.SHUTDOWN);
    const s = await waitFor('SHUTOFF', async () => {
      const v = (await server(id)).body.server;
      return v.status === 'SHUTOFF' ? v : undefined;
    });
    assert.equal(s['OS-EXT-STS:power_state'], PowerState.SHUTDOWN);
  });

  it('the periodic sync reconciles a guest lost from the back-end', async () => {
    const id = await boot('lost', { availability_zone: 'nova:compute2' });
    assert.equal((await settled(id)).status, 'ACTIVE');
    backends.compute2!.deleteInstance(id);
    await cloud.computes.find((c) => c.host === 'compute2')!.syncPowerStates();
    const s = (await server(id)).body.server;
    assert.equal(s.status, 'SHUTOFF');
    assert.equal(s['OS-EXT-STS:power_state'], PowerState.NOSTATE);
  });
});
