import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { startCompute } from '../../src/cmd/services.js';
import { createLogger } from '../../src/common/logging.js';
import { getInstanceRow } from '../../src/db/instances.js';
import { fakeGuests } from '../support/moves.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Shelve, shelve offload, unshelve and evacuate through the compute API of the whole cloud
 * (all-in-one: the conductor's flows, the computes' move steps, the fake driver) with two
 * compute hosts: the statuses each shows while it runs and after, the guests on each fake
 * back-end, the snapshot image, the instance actions and events, and the allocations left:
 * exactly the flavor on the node the server ends on.
 */
describe('shelve, unshelve and evacuate in the cloud (fake driver, two hosts)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let imageId = '';
  const MV = { 'openstack-api-version': 'compute 2.91' };
  const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;

  before(async () => {
    // shelved_offload_time -1: shelve keeps the guest (SHELVED) until shelveOffload; power sync
    // every 1 s so that a source back after an evacuation cleans up soon.
    cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'compute1,compute2', shelved_offload_time: '-1', sync_power_state_interval: '1' },
      fake: { latency_ms: '100' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
  });

  const action = (id: string, body: unknown, headers = MV) => api(admin, 'POST', compute(`/servers/${id}/action`), body, headers);
  const server = async (id: string) => (await api(admin, 'GET', compute(`/servers/${id}`), undefined, MV)).body.server;
  const status = async (id: string): Promise<string> => (await server(id)).status;
  const waitStatus = (id: string, want: string) => waitFor(`${id} ${want}`, async () => {
    const s = await status(id);
    if (s === 'ERROR' && want !== 'ERROR') throw new Error(`${id} went to ERROR: ${JSON.stringify((await server(id)).fault)}`);
    return s === want ? s : undefined;
  });

  async function boot(name: string, host?: string): Promise<string> {
    const r = await api(admin, 'POST', compute('/servers'), {
      server: { name, imageRef: imageId, flavorRef: '1', networks: 'none', ...(host ? { host } : {}) },
    }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitStatus(id, 'ACTIVE');
    return id;
  }

  const guestsOn = (host: string): string[] => fakeGuests(cloud.stateDir, host);

  /** Every allocation of the server and of its migrations, as "server@host: CLASS=n …" / "migration@host: …". */
  async function allocations(uuid: string): Promise<string[]> {
    const migrations = new Set((await cloud.db.selectFrom('migrations').select('uuid').where('instance_uuid', '=', uuid).execute()).map((m) => m.uuid));
    const rows = await cloud.db.selectFrom('allocations as a').innerJoin('compute_nodes as n', 'n.uuid', 'a.node_uuid')
      .select(['a.consumer_uuid', 'n.host', 'a.resource_class', 'a.used']).orderBy('a.resource_class').execute();
    const by = new Map<string, string[]>();
    for (const r of rows) {
      if (r.consumer_uuid !== uuid && !migrations.has(r.consumer_uuid)) continue;
      const key = `${r.consumer_uuid === uuid ? 'server' : 'migration'}@${r.host}`;
      by.set(key, [...(by.get(key) ?? []), `${r.resource_class}=${r.used}`]);
    }
    return [...by].map(([k, v]) => `${k}: ${v.join(' ')}`).sort();
  }
  const TINY = 'DISK_GB=1 MEMORY_MB=512 VCPU=1';

  async function eventsOf(id: string, actionName: string): Promise<string[]> {
    const list = await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions`), undefined, MV);
    const a = (list.body.instanceActions as Array<{ action: string; request_id: string }>).find((x) => x.action === actionName);
    assert.ok(a, `no ${actionName} action`);
    const shown = await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions/${a.request_id}`), undefined, MV);
    return (shown.body.instanceAction.events as Array<{ event: string; result: string | null }>).map((e) => `${e.event}:${e.result}`).sort();
  }

  it('shelve → SHELVED (guest kept, powered off, snapshot image); shelveOffload → SHELVED_OFFLOADED (no guest, no claim); unshelve to a named host → ACTIVE there', async () => {
    const id = await boot('shelve-me', 'compute1');
    const shelved = await action(id, { shelve: null });
    assert.equal(shelved.status, 202, JSON.stringify(shelved.body));
    assert.equal(shelved.body, null);
    assert.equal((await getInstanceRow(cloud.db, id))?.task_state, 'shelving');
    await waitStatus(id, 'SHELVED');
    const row = (await getInstanceRow(cloud.db, id))!;
    assert.equal(row.host, 'compute1');
    assert.ok(guestsOn('compute1').includes(id), 'a shelved server keeps its guest');
    const snap = await api(admin, 'GET', `${cloud.urls.image}/v2/images/${row.shelved_image_id}`);
    assert.equal(snap.status, 200);
    assert.deepEqual([snap.body.name, snap.body.status, snap.body.image_type, snap.body.instance_uuid], ['shelve-me-shelved', 'active', 'snapshot', id]);
    assert.deepEqual(await allocations(id), [`server@compute1: ${TINY}`]);
    assert.deepEqual(await eventsOf(id, 'shelve'), ['compute_shelve_instance:Success']);

    assert.equal((await action(id, { shelveOffload: null })).status, 202);
    await waitStatus(id, 'SHELVED_OFFLOADED');
    const off = await server(id);
    assert.equal(off['OS-EXT-SRV-ATTR:host'], null);
    assert.ok(!guestsOn('compute1').includes(id), 'offloaded: the guest is gone');
    assert.deepEqual(await allocations(id), []);
    assert.deepEqual(await eventsOf(id, 'shelveOffload'), ['compute_shelve_offload_instance:Success']);

    // 2.91: to a named host (admin), from an offloaded server.
    assert.equal((await action(id, { unshelve: { host: 'compute2' } })).status, 202);
    await waitStatus(id, 'ACTIVE');
    const back = (await getInstanceRow(cloud.db, id))!;
    assert.deepEqual([back.host, back.power_state, back.shelved_image_id, back.shelved_at], ['compute2', 1, null, null]);
    assert.ok(guestsOn('compute2').includes(id));
    assert.ok(!guestsOn('compute1').includes(id));
    assert.deepEqual(await allocations(id), [`server@compute2: ${TINY}`]);
    assert.deepEqual(await eventsOf(id, 'unshelve'), ['compute_unshelve_instance:Success', 'schedule_instances:Success']);
    // The snapshot is deleted once the server runs again.
    await waitFor('snapshot deleted', async () => ((await api(admin, 'GET', `${cloud.urls.image}/v2/images/${row.shelved_image_id}`)).status === 404 ? true : undefined));
  });

  it('unshelve of a SHELVED server powers it on where it is; a zone or host for it is 409', async () => {
    const id = await boot('shelve-on', 'compute2');
    assert.equal((await action(id, { shelve: null })).status, 202);
    await waitStatus(id, 'SHELVED');
    const zone = await action(id, { unshelve: { availability_zone: 'nova' } });
    assert.equal(zone.status, 409);
    assert.match(zone.body.conflictingRequest.message, /The server status must be SHELVED_OFFLOADED\./);
    assert.equal((await action(id, { unshelve: null })).status, 202);
    await waitStatus(id, 'ACTIVE');
    const row = (await getInstanceRow(cloud.db, id))!;
    assert.deepEqual([row.host, row.power_state, row.shelved_image_id], ['compute2', 1, null]);
    assert.deepEqual(await allocations(id), [`server@compute2: ${TINY}`]);
  });

  it('a shelved server deleted (SHELVED, and SHELVED_OFFLOADED with no host) takes its snapshot with it', async () => {
    for (const offload of [false, true]) {
      const id = await boot(`shelve-del-${offload}`, 'compute1');
      assert.equal((await action(id, { shelve: null })).status, 202);
      await waitStatus(id, 'SHELVED');
      if (offload) {
        assert.equal((await action(id, { shelveOffload: null })).status, 202);
        await waitStatus(id, 'SHELVED_OFFLOADED');
      }
      const snap = (await getInstanceRow(cloud.db, id))!.shelved_image_id!;
      assert.equal((await api(admin, 'DELETE', compute(`/servers/${id}`), undefined, MV)).status, 204);
      await waitFor(`${id} gone`, async () => ((await api(admin, 'GET', compute(`/servers/${id}`), undefined, MV)).status === 404 ? true : undefined));
      assert.equal((await api(admin, 'GET', `${cloud.urls.image}/v2/images/${snap}`)).status, 404, 'the snapshot is deleted');
      await waitFor('no claim left', async () => ((await allocations(id)).length === 0 ? true : undefined));
      assert.ok(!guestsOn('compute1').includes(id));
    }
  });

  it('evacuate after the source is forced down: rebuilt on the other host (200); the source, back, removes its guest and its claim', async () => {
    const id = await boot('evacuate-me', 'compute1');
    const svc = (await api(admin, 'GET', compute('/os-services?binary=nova-compute&host=compute1'), undefined, MV)).body.services[0];
    // Up: Nova's refusal.
    const inUse = await action(id, { evacuate: {} });
    assert.equal(inUse.status, 400);
    assert.equal(inUse.body.badRequest.message, 'Compute service of compute1 is still in use.');
    const down = await api(admin, 'PUT', compute(`/os-services/${svc.id}`), { forced_down: true }, { 'openstack-api-version': 'compute 2.53' });
    assert.equal(down.status, 200, JSON.stringify(down.body));
    try {
      const r = await action(id, { evacuate: {} });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body, null, 'no body from 2.14');
      await waitStatus(id, 'ACTIVE');
      const row = (await getInstanceRow(cloud.db, id))!;
      assert.equal(row.host, 'compute2');
      assert.ok(guestsOn('compute2').includes(id));
      const [m] = await cloud.db.selectFrom('migrations').selectAll().where('instance_uuid', '=', id).execute();
      assert.deepEqual([m?.migration_type, m?.source_compute, m?.dest_compute], ['evacuation', 'compute1', 'compute2']);
      assert.deepEqual(await eventsOf(id, 'evacuate'), ['compute_rebuild_instance:Success', 'conductor_rebuild_instance:Success']);
      // The source compute (still running here, as one back from an outage) cleans up on its power sync.
      await waitFor('the source cleaned up', async () => {
        const now = await cloud.db.selectFrom('migrations').select('status').where('uuid', '=', m!.uuid).executeTakeFirst();
        return now?.status === 'completed' ? true : undefined;
      }, 20_000);
      assert.ok(!guestsOn('compute1').includes(id), 'the source keeps no guest');
      assert.deepEqual(await allocations(id), [`server@compute2: ${TINY}`]);
    } finally {
      await api(admin, 'PUT', compute(`/os-services/${svc.id}`), { forced_down: false }, { 'openstack-api-version': 'compute 2.53' });
    }
  });

  it('evacuate from a stopped compute: rebuilt elsewhere; the source restarted removes the guest at start and gives its claim up', async () => {
    const id = await boot('evacuate-dead', 'compute2');
    const svc = (await api(admin, 'GET', compute('/os-services?binary=nova-compute&host=compute2'), undefined, MV)).body.services[0];
    await cloud.computes[1]!.stop();
    assert.equal((await api(admin, 'PUT', compute(`/os-services/${svc.id}`), { forced_down: true }, { 'openstack-api-version': 'compute 2.53' })).status, 200);
    const r = await action(id, { evacuate: { host: 'compute1', onSharedStorage: false } }, { 'openstack-api-version': 'compute 2.13' });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.equal(typeof r.body.adminPass, 'string', 'below 2.14 the password is answered');
    await waitStatus(id, 'ACTIVE');
    assert.equal((await getInstanceRow(cloud.db, id))?.host, 'compute1');
    assert.ok(guestsOn('compute2').includes(id), 'the dead source still has the old guest');
    assert.deepEqual(await allocations(id), ['migration@compute2: ' + TINY, `server@compute1: ${TINY}`]);
    // The source comes back (a new compute service on its state): its start-up removes the evacuated guest.
    await api(admin, 'PUT', compute(`/os-services/${svc.id}`), { forced_down: false }, { 'openstack-api-version': 'compute 2.53' });
    const back = await startCompute(cloud.config, cloud.bus, 'compute2', `${cloud.urls.identity}/v3`, createLogger('test', 'silent'));
    try {
      await waitFor('the source cleaned up at start', async () => ((await allocations(id)).length === 1 ? true : undefined), 20_000);
      assert.deepEqual(await allocations(id), [`server@compute1: ${TINY}`]);
      assert.ok(!guestsOn('compute2').includes(id), 'the returned source keeps no guest');
      const [m] = await cloud.db.selectFrom('migrations').select('status').where('instance_uuid', '=', id).execute();
      assert.equal(m?.status, 'completed');
      assert.equal(await status(id), 'ACTIVE');
    } finally {
      await back.stop();
    }
  });
});

describe('the periodic offload of shelved servers (shelved_offload_time 1 s, polled every 1 s)', () => {
  let cloud: TestCloud;
  let admin: Session;
  const MV = { 'openstack-api-version': 'compute 2.91' };

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1', shelved_offload_time: '1', shelved_poll_interval: '1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => {
    await cloud?.close();
  });

  it('a shelved server is offloaded by the conductor once its time is up, recorded as shelveOffload', async () => {
    const imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    const r = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name: 'later', imageRef: imageId, flavorRef: '1', networks: 'none' } }, MV);
    const id = r.body.server.id as string;
    const statusOf = async () => (await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`, undefined, MV)).body.server.status as string;
    await waitFor('ACTIVE', async () => ((await statusOf()) === 'ACTIVE' ? true : undefined));
    assert.equal((await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/action`, { shelve: null }, MV)).status, 202);
    // SHELVED first (not offloaded at once: the time is not 0), then offloaded by the periodic task.
    await waitFor('SHELVED', async () => ((await statusOf()) === 'SHELVED' ? true : undefined));
    await waitFor('SHELVED_OFFLOADED', async () => ((await statusOf()) === 'SHELVED_OFFLOADED' ? true : undefined), 15_000);
    const actions = await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}/os-instance-actions`, undefined, MV);
    assert.deepEqual((actions.body.instanceActions as Array<{ action: string }>).map((a) => a.action).sort(), ['create', 'shelve', 'shelveOffload']);
    const left = await cloud.db.selectFrom('allocations').select('consumer_uuid').where('consumer_uuid', '=', id).execute();
    assert.deepEqual(left, []);
  });
});
