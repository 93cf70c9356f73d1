import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Deferred delete with `[DEFAULT] reclaim_instance_interval` = 2: DELETE makes a server
 * SOFT_DELETED (its guest powered off, its claim kept), restore brings it back ACTIVE,
 * forceDelete deletes it at once, and the conductor's reclaim deletes it after the interval.
 */
describe('deferred delete (reclaim_instance_interval)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let imageId = '';
  const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1', reclaim_instance_interval: '2' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
  });

  const show = (id: string) => api(admin, 'GET', compute(`/servers/${id}`));
  const until = (id: string, status: string, timeoutMs = 15_000) =>
    waitFor(`${id} ${status}`, async () => ((await show(id)).body.server?.status === status ? true : undefined), timeoutMs);
  const boot = async (name: string): Promise<string> => {
    const r = await api(admin, 'POST', compute('/servers'), { server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' } },
      { 'openstack-api-version': 'compute 2.37' });
    assert.equal(r.status, 202);
    await until(r.body.server.id, 'ACTIVE');
    return r.body.server.id;
  };
  const usedRam = async (): Promise<number> => (await api(admin, 'GET', compute('/os-hypervisors/detail'))).body.hypervisors
    .reduce((n: number, h: { memory_mb_used: number }) => n + h.memory_mb_used, 0);

  it('DELETE soft-deletes (guest off, claim kept); restore brings it back ACTIVE', async () => {
    const id = await boot('soft-1');
    const ram = await usedRam();
    assert.equal((await api(admin, 'DELETE', compute(`/servers/${id}`))).status, 204);
    await until(id, 'SOFT_DELETED');
    const shown = (await show(id)).body.server;
    assert.equal(shown['OS-EXT-STS:power_state'], 4, 'the guest is shut down');
    assert.equal(await usedRam(), ram, 'a soft-deleted server keeps its resources');
    const restored = await api(admin, 'POST', compute(`/servers/${id}/action`), { restore: null });
    assert.equal(restored.status, 202, JSON.stringify(restored.body));
    await until(id, 'ACTIVE');
    assert.equal((await show(id)).body.server['OS-EXT-STS:power_state'], 1);
    const actions = (await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions`))).body.instanceActions.map((a: { action: string }) => a.action);
    assert.ok(actions.includes('restore') && actions.includes('delete'), JSON.stringify(actions));
    assert.equal((await api(admin, 'POST', compute(`/servers/${id}/action`), { forceDelete: null })).status, 202);
    await waitFor('force-deleted', async () => ((await show(id)).status === 404 ? true : undefined));
  });

  it('forceDelete of a soft-deleted server deletes it and frees its resources', async () => {
    const before = await usedRam();
    const id = await boot('soft-2');
    await api(admin, 'DELETE', compute(`/servers/${id}`));
    await until(id, 'SOFT_DELETED');
    assert.equal((await api(admin, 'POST', compute(`/servers/${id}/action`), { forceDelete: null })).status, 202);
    await waitFor('deleted', async () => ((await show(id)).status === 404 ? true : undefined));
    await waitFor('resources freed', async () => ((await usedRam()) === before ? true : undefined));
  });

  it('the conductor reclaims a server soft-deleted for longer than the interval', async () => {
    const before = await usedRam();
    const id = await boot('soft-3');
    await api(admin, 'DELETE', compute(`/servers/${id}`));
    await until(id, 'SOFT_DELETED');
    await waitFor('reclaimed', async () => ((await show(id)).status === 404 ? true : undefined), 20_000);
    await waitFor('resources freed', async () => ((await usedRam()) === before ? true : undefined));
    // Listed among the deleted for an admin, as any deleted server.
    const deleted = await api(admin, 'GET', compute(`/servers/detail?deleted=true&uuid=${id}`));
    assert.equal(deleted.body.servers[0]?.status, 'DELETED');
  });
});
