import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register } from '../../src/api/aggregates.js';
import { availabilityZoneOfHost, hostAvailabilityZones, listAvailabilityZones } from '../../src/db/aggregates.js';
import { addComputeHost, addInstance, call, startHarness, type Harness } from './harness.js';

describe('os-aggregates API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([register]);
    for (const host of ['compute1', 'compute2', 'compute3']) await addComputeHost(h.db, host);
    await addComputeHost(h.db, 'controller', { binary: 'nova-conductor' });
  });
  after(async () => h.close());

  const agg = (id: number | string): string => `/v2.1/os-aggregates/${id}`;
  const action = (id: number, body: unknown): Promise<Awaited<ReturnType<typeof call>>> => call(h, h.admin, 'POST', `${agg(id)}/action`, body);

  it('is admin only', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-aggregates')).status, 403);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'x' } })).status, 403);
    assert.equal((await call(h, h.member, 'GET', agg(1))).status, 403);
    assert.equal((await call(h, h.member, 'PUT', agg(1), { aggregate: { name: 'y' } })).status, 403);
    assert.equal((await call(h, h.member, 'DELETE', agg(1))).status, 403);
    assert.equal((await call(h, h.member, 'POST', `${agg(1)}/action`, { add_host: { host: 'compute1' } })).status, 403);
  });

  it('creates aggregates, with the zone as metadata', async () => {
    const r = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'rack1', availability_zone: 'az1' } });
    assert.equal(r.status, 200);
    assert.deepEqual(Object.keys(r.body.aggregate).sort(), ['availability_zone', 'created_at', 'deleted', 'deleted_at', 'id', 'name', 'updated_at']);
    assert.equal(r.body.aggregate.availability_zone, 'az1');
    assert.equal(r.body.aggregate.deleted, false);
    assert.match(r.body.aggregate.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    const show = await call(h, h.admin, 'GET', agg(r.body.aggregate.id));
    assert.deepEqual(Object.keys(show.body.aggregate).sort(), [
      'availability_zone', 'created_at', 'deleted', 'deleted_at', 'hosts', 'id', 'metadata', 'name', 'updated_at',
    ]);
    assert.deepEqual(show.body.aggregate.metadata, { availability_zone: 'az1' });
    assert.deepEqual(show.body.aggregate.hosts, []);

    const plain = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'gpus', availability_zone: null } });
    assert.equal(plain.body.aggregate.availability_zone, null);
    const list = await call(h, h.admin, 'GET', '/v2.1/os-aggregates');
    assert.deepEqual(list.body.aggregates.map((a: { name: string }) => a.name), ['rack1', 'gpus']);
    assert.deepEqual(list.body.aggregates[1].metadata, {});
  });

  it('validates create bodies and refuses duplicate names and the internal zone', async () => {
    for (const body of [
      {}, { aggregate: {} }, { aggregate: { name: '' } }, { aggregate: { name: 'x', availability_zone: 'a:b' } },
      { aggregate: { name: 'x', availability_zone: '' } }, { aggregate: { name: 'x', extra: 1 } }, { aggregate: { name: ' padded' } },
    ]) {
      assert.equal((await call(h, h.admin, 'POST', '/v2.1/os-aggregates', body)).status, 400, JSON.stringify(body));
    }
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'x', availability_zone: 'internal' } })).status, 400);
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'rack1' } })).status, 409);
  });

  it('answers 404 for unknown and 400 for non-integer ids', async () => {
    assert.equal((await call(h, h.admin, 'GET', agg(999))).status, 404);
    assert.equal((await call(h, h.admin, 'GET', agg('abc'))).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', agg(999), { aggregate: { name: 'z' } })).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', agg(999))).status, 404);
    assert.equal((await action(999, { add_host: { host: 'compute1' } })).status, 404);
    assert.equal((await action(999, { set_metadata: { metadata: { a: 'b' } } })).status, 404);
  });

  it('adds and removes hosts under Nova\'s rules', async () => {
    const rack1 = 1;
    const gpus = 2;
    const added = await action(rack1, { add_host: { host: 'compute1' } });
    assert.equal(added.status, 200);
    assert.deepEqual(added.body.aggregate.hosts, ['compute1']);
    assert.equal((await action(rack1, { add_host: { host: 'compute1' } })).status, 409);
    assert.equal((await action(rack1, { add_host: { host: 'nowhere' } })).status, 404);
    // a host with only a control service is no compute host
    assert.equal((await action(rack1, { add_host: { host: 'controller' } })).status, 404);
    // an aggregate without a zone takes any host
    assert.equal((await action(gpus, { add_host: { host: 'compute1' } })).status, 200);
    // a host may not be in two zones
    const az2 = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'rack2', availability_zone: 'az2' } });
    const rack2 = az2.body.aggregate.id;
    const clash = await action(rack2, { add_host: { host: 'compute1' } });
    assert.equal(clash.status, 409);
    assert.match(clash.body.conflictingRequest.message, /az1/);
    assert.equal((await action(rack2, { add_host: { host: 'compute2' } })).status, 200);
    // giving the zone-less aggregate a zone its hosts contradict is refused
    assert.equal((await action(gpus, { set_metadata: { metadata: { availability_zone: 'az2' } } })).status, 400);
    assert.equal((await action(gpus, { set_metadata: { metadata: { availability_zone: 'az1' } } })).status, 200);

    for (const body of [{ add_host: {} }, { add_host: { host: 'bad host!' } }, { remove_host: { host: 1 } }, { launch: {} }, {}]) {
      assert.equal((await action(rack1, body)).status, 400, JSON.stringify(body));
    }

    assert.deepEqual((await action(gpus, { remove_host: { host: 'compute1' } })).body.aggregate.hosts, []);
    assert.equal((await action(gpus, { remove_host: { host: 'compute1' } })).status, 404);
  });

  it('merges metadata and removes keys set to null', async () => {
    const r = await action(2, { set_metadata: { metadata: { ssd: 'true', gpu: 'a100' } } });
    assert.deepEqual(r.body.aggregate.metadata, { availability_zone: 'az1', gpu: 'a100', ssd: 'true' });
    const r2 = await action(2, { set_metadata: { metadata: { gpu: null, ssd: 'false' } } });
    assert.deepEqual(r2.body.aggregate.metadata, { availability_zone: 'az1', ssd: 'false' });
    assert.notEqual(r2.body.aggregate.updated_at, null);
    for (const metadata of [{ 'bad/key': 'x' }, { k: 1 }, { k: 'x'.repeat(256) }]) {
      assert.equal((await action(2, { set_metadata: { metadata } })).status, 400, JSON.stringify(metadata));
    }
    // Nova refuses an empty zone, and the internal one
    assert.equal((await action(2, { set_metadata: { metadata: { availability_zone: null } } })).status, 400);
    assert.equal((await action(2, { set_metadata: { metadata: { availability_zone: 'internal' } } })).status, 400);
  });

  it('renames and re-zones aggregates', async () => {
    const r = await call(h, h.admin, 'PUT', agg(1), { aggregate: { name: 'rack-one' } });
    assert.equal(r.status, 200);
    assert.equal(r.body.aggregate.name, 'rack-one');
    assert.deepEqual(r.body.aggregate.hosts, ['compute1']);
    assert.equal((await call(h, h.admin, 'PUT', agg(1), { aggregate: { name: 'rack2' } })).status, 409);
    assert.equal((await call(h, h.admin, 'PUT', agg(1), { aggregate: {} })).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', agg(1), { aggregate: { availability_zone: 'internal' } })).status, 400);
    assert.equal((await call(h, h.admin, 'PUT', agg(1), { aggregate: { availability_zone: null } })).status, 400);
    // with compute1 also in aggregate 2 (az1), moving aggregate 1 alone to az3 would split the host
    assert.equal((await action(2, { add_host: { host: 'compute1' } })).status, 200);
    assert.equal((await call(h, h.admin, 'PUT', agg(1), { aggregate: { availability_zone: 'az3' } })).status, 400);
    assert.equal((await action(2, { set_metadata: { metadata: { availability_zone: 'az3' } } })).status, 400);
    await action(2, { remove_host: { host: 'compute1' } });
    const moved = await call(h, h.admin, 'PUT', agg(1), { aggregate: { availability_zone: 'az3' } });
    assert.equal(moved.status, 200);
    assert.equal(moved.body.aggregate.availability_zone, 'az3');
  });

  it('keeps the zone of hosts running instances', async () => {
    await addInstance(h.db, { projectId: h.member.projectId, userId: h.member.userId, host: 'compute1' });
    const r = await call(h, h.admin, 'PUT', agg(1), { aggregate: { availability_zone: 'az9' } });
    assert.equal(r.status, 400);
    assert.match(r.body.badRequest.message, /instances/);
    // the same zone is no change
    assert.equal((await call(h, h.admin, 'PUT', agg(1), { aggregate: { availability_zone: 'az3' } })).status, 200);
  });

  it('exposes host zones to the scheduler and servers API', async () => {
    const zones = await hostAvailabilityZones(h.db);
    assert.equal(zones.get('compute1'), 'az3');
    assert.equal(zones.get('compute2'), 'az2');
    assert.equal(zones.has('compute3'), false);
    assert.equal(await availabilityZoneOfHost(h.db, h.config, 'compute1'), 'az3');
    assert.equal(await availabilityZoneOfHost(h.db, h.config, 'compute3'), 'nova');
    assert.deepEqual(await listAvailabilityZones(h.db, h.config), { available: ['az2', 'az3', 'nova'], unavailable: [] });
  });

  it('deletes only empty aggregates', async () => {
    const r = await call(h, h.admin, 'DELETE', agg(1));
    assert.equal(r.status, 400);
    await action(1, { remove_host: { host: 'compute1' } });
    const ok = await call(h, h.admin, 'DELETE', agg(1));
    assert.equal(ok.status, 200);
    assert.equal((await call(h, h.admin, 'GET', agg(1))).status, 404);
    assert.equal((await call(h, h.admin, 'DELETE', agg(1))).status, 404);
    // the name is free again
    assert.equal((await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'rack-one' } })).status, 200);
    assert.equal(await availabilityZoneOfHost(h.db, h.config, 'compute1'), 'nova');
  });
});
