import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Admin actions and the server sub-resources of server groups and admin actions, on the whole cloud:
 * os-resetState, forceDelete, trigger_crash_dump, os-server-password, ips, and
 * os-server-external-events with its per-event codes.
 */
describe('admin actions, server password, ips and external events', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let imageId = '';
  const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;
  const MV = { 'openstack-api-version': 'compute 2.93' };

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'aa-p', 'aa-u');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
  });

  const boot = async (who: Session, name: string): Promise<string> => {
    const r = await api(who, 'POST', compute('/servers'), { server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitFor(`${name} ACTIVE`, async () => ((await api(who, 'GET', compute(`/servers/${id}`))).body.server.status === 'ACTIVE' ? true : undefined));
    return id;
  };
  const action = (who: Session, id: string, body: unknown, headers = MV) => api(who, 'POST', compute(`/servers/${id}/action`), body, headers);
  const status = async (id: string): Promise<string> => (await api(admin, 'GET', compute(`/servers/${id}`))).body.server.status;

  it('os-resetState: admin sets error or active (202), recorded as resetState; a member is refused 403; bad states 400', async () => {
    const id = await boot(member, 'reset-me');
    const refused = await action(member, id, { 'os-resetState': { state: 'error' } });
    assert.equal(refused.status, 403);
    assert.equal(refused.body.forbidden.message, "Policy doesn't allow os_compute_api:os-admin-actions:reset_state to be performed.");
    assert.equal(await status(id), 'ACTIVE');
    for (const bad of [{ state: 'stopped' }, {}, { state: 'error', x: 1 }, 'error']) {
      assert.equal((await action(admin, id, { 'os-resetState': bad })).status, 400, JSON.stringify(bad));
    }
    assert.equal((await action(admin, id, { 'os-resetState': { state: 'error' } })).status, 202);
    assert.equal(await status(id), 'ERROR');
    assert.equal((await action(admin, id, { 'os-resetState': { state: 'active' } })).status, 202);
    assert.equal(await status(id), 'ACTIVE');
    const actions = await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions`));
    assert.equal(actions.body.instanceActions.filter((a: { action: string }) => a.action === 'resetState').length, 2);
    assert.equal((await action(admin, '00000000-0000-4000-8000-000000000000', { 'os-resetState': { state: 'error' } })).status, 404);
  });

  it('forceDelete deletes at once (202); a locked server refuses a member (409); another project\'s server is 404', async () => {
    const id = await boot(member, 'force-me');
    const other = await memberOfNewProject(cloud, admin, 'aa-q', 'aa-v');
    assert.equal((await action(other, id, { forceDelete: null })).status, 404);
    assert.equal((await action(admin, id, { lock: null })).status, 202);
    assert.equal((await action(member, id, { forceDelete: null })).status, 409);
    assert.equal((await action(admin, id, { unlock: null })).status, 202);
    assert.equal((await action(member, id, { forceDelete: null })).status, 202);
    await waitFor('deleted', async () => ((await api(member, 'GET', compute(`/servers/${id}`))).status === 404 ? true : undefined));
  });

  it('restore of a server that is not soft-deleted is 409', async () => {
    const id = await boot(member, 'not-soft');
    const r = await action(member, id, { restore: null });
    assert.equal(r.status, 409);
    assert.match(r.body.conflictingRequest.message, /Cannot 'restore' instance .* while it is in vm_state active/);
  });

  it('trigger_crash_dump: no such action before 2.17; from 2.17 400 "not supported" (no driver declares it)', async () => {
    const id = await boot(member, 'crash');
    const old = await action(member, id, { trigger_crash_dump: null }, { 'openstack-api-version': 'compute 2.16' });
    assert.equal(old.status, 400);
    assert.equal(old.body.badRequest.message, 'There is no such action: trigger_crash_dump');
    const now = await action(member, id, { trigger_crash_dump: null }, { 'openstack-api-version': 'compute 2.17' });
    assert.equal(now.status, 400);
    assert.equal(now.body.badRequest.message, 'Triggering crash dump is not supported');
    assert.equal(await status(id), 'ACTIVE');
  });

  it('os-server-password: GET is empty (no guest has posted one), DELETE 204; 404 for another project', async () => {
    const id = await boot(member, 'pw');
    const shown = await api(member, 'GET', compute(`/servers/${id}/os-server-password`));
    assert.equal(shown.status, 200);
    assert.deepEqual(shown.body, { password: '' });
    assert.equal((await api(member, 'DELETE', compute(`/servers/${id}/os-server-password`))).status, 204);
    const other = await memberOfNewProject(cloud, admin, 'aa-r', 'aa-w');
    assert.equal((await api(other, 'GET', compute(`/servers/${id}/os-server-password`))).status, 404);
  });

  it('ips: no networks, so no addresses; any network is 404 as Nova', async () => {
    const id = await boot(member, 'ips');
    const all = await api(member, 'GET', compute(`/servers/${id}/ips`));
    assert.equal(all.status, 200);
    assert.deepEqual(all.body, { addresses: {} });
    const one = await api(member, 'GET', compute(`/servers/${id}/ips/private`));
    assert.equal(one.status, 404);
    assert.equal(one.body.itemNotFound.message, 'Instance is not a member of specified network');
    assert.equal((await api(member, 'GET', compute('/servers/00000000-0000-4000-8000-000000000000/ips'))).status, 404);
  });

  it('os-server-external-events (2.51 volume-extended, 2.76 power-update, each refused below): admin only; 200 all accepted, 207 some, 404 none; bad events 400', async () => {
    const id = await boot(member, 'events');
    const missing = '00000000-0000-4000-8000-000000000000';
    const url = compute('/os-server-external-events');
    assert.equal((await api(member, 'POST', url, { events: [{ name: 'network-changed', server_uuid: id }] })).status, 403);
    const ok = await api(admin, 'POST', url, { events: [{ name: 'network-changed', server_uuid: id, tag: 'port-1' }] }, MV);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.deepEqual(ok.body.events, [{ name: 'network-changed', server_uuid: id, tag: 'port-1', status: 'completed', code: 200 }]);
    const some = await api(admin, 'POST', url, { events: [
      { name: 'network-vif-plugged', server_uuid: id, status: 'completed' }, { name: 'network-vif-plugged', server_uuid: missing },
    ] }, MV);
    assert.equal(some.status, 207);
    assert.deepEqual(some.body.events.map((e: { code: number; status: string }) => [e.code, e.status]), [[200, 'completed'], [404, 'failed']]);
    const none = await api(admin, 'POST', url, { events: [{ name: 'network-changed', server_uuid: missing }] }, MV);
    assert.equal(none.status, 404);
    assert.equal(none.body.itemNotFound.message, 'No instances found for any event');
    // A server no host has (forced onto a host that does not exist: ERROR, unplaced): 422 for that event.
    const unplaced = await api(admin, 'POST', compute('/servers'), {
      server: { name: 'nowhere', imageRef: imageId, flavorRef: '1', networks: 'none', availability_zone: 'nova:no-such-host' },
    }, MV);
    assert.equal(unplaced.status, 202, JSON.stringify(unplaced.body));
    const nowhere = unplaced.body.server.id as string;
    await waitFor('unplaced server ERROR', async () => ((await status(nowhere)) === 'ERROR' ? true : undefined));
    const r = await api(admin, 'POST', url, { events: [{ name: 'network-changed', server_uuid: id }, { name: 'network-changed', server_uuid: nowhere }] }, MV);
    assert.equal(r.status, 207);
    assert.deepEqual(r.body.events.map((e: { code: number }) => e.code), [200, 422]);
    // Names by microversion: volume-extended from 2.51, power-update (with its tag) from 2.76.
    const early = await api(admin, 'POST', url, { events: [{ name: 'volume-extended', server_uuid: id }] }, { 'openstack-api-version': 'compute 2.50' });
    assert.equal(early.status, 400);
    const at51 = await api(admin, 'POST', url, { events: [{ name: 'volume-extended', server_uuid: id }] }, { 'openstack-api-version': 'compute 2.51' });
    assert.equal(at51.status, 200);
    assert.equal((await api(admin, 'POST', url, { events: [{ name: 'power-update', server_uuid: id }] }, MV)).status, 400);
    assert.equal((await api(admin, 'POST', url, { events: [{ name: 'power-update', server_uuid: id, tag: 'POWER_OFF' }] }, MV)).status, 200);
    const at75 = await api(admin, 'POST', url, { events: [{ name: 'power-update', server_uuid: id, tag: 'POWER_OFF' }] }, { 'openstack-api-version': 'compute 2.75' });
    assert.equal(at75.status, 400, 'power-update is no event name before 2.76');
    for (const bad of [{}, { events: [] }, { events: [{ name: 'nope', server_uuid: id }] }, { events: [{ name: 'network-changed' }] },
      { events: [{ name: 'network-changed', server_uuid: 'x' }] }, { events: [{ name: 'network-changed', server_uuid: id, status: 'weird' }] }]) {
      assert.equal((await api(admin, 'POST', url, bad, MV)).status, 400, JSON.stringify(bad));
    }
  });

  it('createBackup: 2.45 answers image_id, 2.44 a Location; rotation keeps the newest; rotation 0 keeps none; bad bodies 400', async () => {
    const id = await boot(member, 'backed-up');
    const idle = () => waitFor('snapshot done', async () => {
      const s = (await api(member, 'GET', compute(`/servers/${id}`), undefined, MV)).body.server;
      return s['OS-EXT-STS:task_state'] === null ? true : undefined;
    });
    const backups = async (type: string): Promise<string[]> => (await api(member, 'GET',
      `${cloud.urls.image}/v2/images?instance_uuid=${id}&image_type=backup&backup_type=${type}&sort=created_at:desc`)).body.images.map((i: { id: string }) => i.id);
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await action(member, id, { createBackup: { name: `b${i}`, backup_type: 'daily', rotation: 2 } });
      assert.equal(r.status, 202, JSON.stringify(r.body));
      assert.match(r.body.image_id, /^[0-9a-f-]{36}$/);
      made.push(r.body.image_id);
      await idle();
    }
    assert.deepEqual(await backups('daily'), [made[2], made[1]]);
    const old = await action(member, id, { createBackup: { name: 'weekly-1', backup_type: 'weekly', rotation: '1' } }, { 'openstack-api-version': 'compute 2.44' });
    assert.equal(old.status, 202);
    assert.equal(old.body, null);
    assert.match(old.headers.get('location') ?? '', /\/images\/[0-9a-f-]{36}$/);
    await idle();
    assert.equal((await backups('weekly')).length, 1);
    assert.deepEqual(await backups('daily'), [made[2], made[1]], 'another type is not rotated');
    assert.equal((await action(member, id, { createBackup: { name: 'none', backup_type: 'daily', rotation: 0 } })).status, 202);
    assert.deepEqual(await backups('daily'), []);
    for (const bad of [{ name: 'x', backup_type: 'daily' }, { name: 'x', backup_type: 'daily', rotation: -1 }, { name: 'x', rotation: 1 },
      { name: 'x', backup_type: 'daily', rotation: 1, extra: true }, { backup_type: 'daily', rotation: 1 }]) {
      assert.equal((await action(member, id, { createBackup: bad })).status, 400, JSON.stringify(bad));
    }
  });
});
