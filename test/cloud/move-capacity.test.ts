import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { allocationsByNode, assertClaimsExactly, guestHosts, type FlavorShape } from '../support/moves.js';

const HOSTS = ['compute1', 'compute2'];
const TINY: FlavorShape = { vcpus: 1, ram: 512, disk: 1 };
const MV = { 'openstack-api-version': 'compute 2.80' };
const PER_HOST = 20;

/**
 * Issue #12: 20 concurrent cold migrations into a cloud with room for 10 → 10 succeed
 * (VERIFY_RESIZE, then confirmed), 10 fail cleanly with "No valid host" and stay ACTIVE where
 * they were; no node is overcommitted and no claim leaks. Two hosts with memory for exactly 20
 * m1.tiny each (RAM ratio 1.0): 20 servers forced onto compute1, 10 fillers onto compute2, then
 * all 20 of compute1's migrated at once (a migration never picks the server's own host).
 */
describe('cold migrations against too little room', () => {
  let cloud: TestCloud;
  let admin: Session;
  let imageId = '';

  before(async () => {
    cloud = await startTestCloud({
      DEFAULT: { ram_allocation_ratio: '1.0' },
      fake: { memory_mb: String(PER_HOST * 512), vcpus: '64', disk_gb: '1000' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    const q = await api(admin, 'PUT', `${cloud.urls.compute}/v2.1/os-quota-sets/${admin.projectId}`, { quota_set: { instances: 100, cores: 200, ram: 100 * 1024 } });
    assert.equal(q.status, 200);
  });
  after(async () => {
    await cloud?.close();
  });

  const c = () => cloud.urls.compute;
  const server = async (id: string) => (await api(admin, 'GET', `${c()}/v2.1/servers/${id}`, undefined, MV)).body.server as Record<string, any>;

  async function bootOn(host: string, count: number, prefix: string): Promise<string[]> {
    const rs = await Promise.all(Array.from({ length: count }, (_, i) => api(admin, 'POST', `${c()}/v2.1/servers`, {
      server: { name: `${prefix}${i}`, imageRef: imageId, flavorRef: '1', networks: 'none', availability_zone: `nova:${host}` },
    }, MV)));
    for (const r of rs) assert.equal(r.status, 202, JSON.stringify(r.body));
    const ids = rs.map((r) => r.body.server.id as string);
    await waitFor(`${count} servers ACTIVE on ${host}`, async () => {
      const all = await Promise.all(ids.map(server));
      return all.every((v) => v.status === 'ACTIVE') ? true : undefined;
    }, 120_000);
    return ids;
  }

  /** The instance action of the server's last `migrate` request, with its events (2.51: tracebacks for admins). */
  async function migrateAction(id: string): Promise<Record<string, any>> {
    const list = await api(admin, 'GET', `${c()}/v2.1/servers/${id}/os-instance-actions`, undefined, MV);
    const a = (list.body.instanceActions as Array<{ action: string; request_id: string }>).find((x) => x.action === 'migrate');
    assert.ok(a, `${id} has no migrate action`);
    return (await api(admin, 'GET', `${c()}/v2.1/servers/${id}/os-instance-actions/${a.request_id}`, undefined, MV)).body.instanceAction;
  }

  it('20 concurrent migrations, room for 10 → 10 VERIFY_RESIZE then confirmed, 10 ACTIVE in place with "No valid host"', async () => {
    const movers = await bootOn('compute1', PER_HOST, 'mv');
    const fillers = await bootOn('compute2', PER_HOST / 2, 'fill');

    const answers = await Promise.all(movers.map((id) => api(admin, 'POST', `${c()}/v2.1/servers/${id}/action`, { migrate: null })));
    assert.deepEqual(answers.map((r) => r.status), Array(PER_HOST).fill(202), JSON.stringify(answers.find((r) => r.status !== 202)?.body));

    const settled = await waitFor('every migration to end', async () => {
      const all = await Promise.all(movers.map(server));
      return all.every((v) => !v['OS-EXT-STS:task_state'] && (v.status === 'VERIFY_RESIZE' || v.status === 'ACTIVE' || v.status === 'ERROR')) ? all : undefined;
    }, 180_000);
    const verify = settled.filter((v) => v.status === 'VERIFY_RESIZE');
    const stayed = settled.filter((v) => v.status === 'ACTIVE');
    assert.equal(verify.length, PER_HOST / 2, `VERIFY_RESIZE: ${verify.length}, states: ${settled.map((v) => v.status).join(',')}`);
    assert.equal(stayed.length, PER_HOST / 2, `stayed ACTIVE: ${stayed.length}`);
    for (const v of verify) assert.equal(v['OS-EXT-SRV-ATTR:host'], 'compute2');
    for (const v of stayed) {
      assert.equal(v['OS-EXT-SRV-ATTR:host'], 'compute1', `${v.name} moved although it failed`);
      const action = await migrateAction(v.id);
      assert.match(JSON.stringify(action), /No valid host/, `${v.name}: the migrate action does not say why: ${JSON.stringify(action)}`);
      assert.ok((action.events as Array<{ result: string }>).some((e) => e.result === 'Error'), `${v.name}: no failed event`);
    }

    // Nothing overcommitted while half of them wait to be confirmed (the sources still held by their migrations).
    const hv = await api(admin, 'GET', `${c()}/v2.1/os-hypervisors/detail`, undefined, { 'openstack-api-version': 'compute 2.27' });
    for (const h of hv.body.hypervisors) assert.ok(h.memory_mb_used <= h.memory_mb, `${h.hypervisor_hostname}: ${h.memory_mb_used} > ${h.memory_mb} MB`);

    const confirms = await Promise.all(verify.map((v) => api(admin, 'POST', `${c()}/v2.1/servers/${v.id}/action`, { confirmResize: null })));
    assert.deepEqual(confirms.map((r) => r.status), Array(verify.length).fill(204));
    await waitFor('the confirmed servers ACTIVE', async () => {
      const all = await Promise.all(verify.map((v) => server(v.id)));
      return all.every((v) => v.status === 'ACTIVE' && !v['OS-EXT-STS:task_state']) ? true : undefined;
    }, 60_000);

    // Migration records: 10 confirmed, 10 in error (Nova's status for a cold move that found no host).
    const migs = (await api(admin, 'GET', `${c()}/v2.1/os-migrations?migration_type=migration`, undefined, MV)).body.migrations as Array<Record<string, any>>;
    const mine = migs.filter((m) => movers.includes(m.instance_uuid));
    assert.equal(mine.length, PER_HOST);
    const byStatus = new Map<string, number>();
    for (const m of mine) byStatus.set(m.status, (byStatus.get(m.status) ?? 0) + 1);
    assert.deepEqual(Object.fromEntries(byStatus), { confirmed: PER_HOST / 2, error: PER_HOST / 2 });

    // Claims: every server exactly m1.tiny on its host, no migration holds anything, and a guest only there.
    for (const id of [...movers, ...fillers]) {
      const v = await server(id);
      assert.equal(v.status, 'ACTIVE');
      const host = String(v['OS-EXT-SRV-ATTR:host']);
      await assertClaimsExactly(cloud.urls.placement, admin, id, host, TINY);
      assert.deepEqual(guestHosts(cloud.stateDir, HOSTS, id), [host], `${v.name}: guests`);
    }
    for (const m of mine) assert.deepEqual(Object.fromEntries(await allocationsByNode(cloud.urls.placement, admin, m.uuid)), {}, `migration ${m.uuid} holds claims`);
    const hv2 = await api(admin, 'GET', `${c()}/v2.1/os-hypervisors/detail`, undefined, { 'openstack-api-version': 'compute 2.27' });
    const used = Object.fromEntries((hv2.body.hypervisors as Array<Record<string, any>>).map((h) => [h.hypervisor_hostname, h.memory_mb_used]));
    assert.deepEqual(used, { compute1: (PER_HOST / 2) * 512, compute2: PER_HOST * 512 });
  });
});
