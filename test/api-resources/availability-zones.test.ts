import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { register as registerZones } from '../../src/api/availability-zones.js';
import { register as registerAggregates } from '../../src/api/aggregates.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { openstackJson } from '../support/openstack-cli.js';
import { addComputeHost, call, startHarness, type Harness } from './harness.js';

describe('os-availability-zone API', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness([registerZones, registerAggregates]);
    await addComputeHost(h.db, 'compute1');
    await addComputeHost(h.db, 'compute2');
    await addComputeHost(h.db, 'compute3', { disabled: true });
    await addComputeHost(h.db, 'compute4', { up: false });
    await addComputeHost(h.db, 'controller', { binary: 'nova-conductor' });
    await addComputeHost(h.db, 'controller', { binary: 'nova-scheduler' });
    // compute2 in az1; compute3, the only host of az-off, is disabled
    const az1 = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'a1', availability_zone: 'az1' } });
    await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${az1.body.aggregate.id}/action`, { add_host: { host: 'compute2' } });
    const off = await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'a2', availability_zone: 'az-off' } });
    await call(h, h.admin, 'POST', `/v2.1/os-aggregates/${off.body.aggregate.id}/action`, { add_host: { host: 'compute3' } });
    // an aggregate zone without hosts is no zone
    await call(h, h.admin, 'POST', '/v2.1/os-aggregates', { aggregate: { name: 'a3', availability_zone: 'empty' } });
  });
  after(async () => h.close());

  it('lists the zones of compute services to everyone, never the internal one', async () => {
    const r = await call(h, h.member, 'GET', '/v2.1/os-availability-zone');
    assert.equal(r.status, 200);
    assert.deepEqual(r.body, {
      availabilityZoneInfo: [
        { zoneName: 'az1', zoneState: { available: true }, hosts: null },
        { zoneName: 'nova', zoneState: { available: true }, hosts: null },
        { zoneName: 'az-off', zoneState: { available: false }, hosts: null },
      ],
    });
    assert.equal((await call(h, h.member, 'GET', `/v2.1/${h.member.projectId}/os-availability-zone`)).status, 200);
  });

  it('details zones, hosts and services to admins only', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-availability-zone/detail')).status, 403);
    const r = await call(h, h.admin, 'GET', '/v2.1/os-availability-zone/detail');
    assert.equal(r.status, 200);
    const zones = Object.fromEntries(r.body.availabilityZoneInfo.map((z: { zoneName: string }) => [z.zoneName, z]));
    assert.deepEqual(Object.keys(zones).sort(), ['az-off', 'az1', 'internal', 'nova']);
    assert.deepEqual(Object.keys(zones.internal.hosts), ['controller']);
    assert.deepEqual(Object.keys(zones.internal.hosts.controller).sort(), ['nova-conductor', 'nova-scheduler']);
    const c1 = zones.nova.hosts.compute1['nova-compute'];
    assert.deepEqual(Object.keys(c1).sort(), ['active', 'available', 'updated_at']);
    assert.equal(c1.available, true);
    assert.equal(c1.active, true);
    assert.match(c1.updated_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal(zones.nova.hosts.compute4['nova-compute'].available, false);
    assert.deepEqual(Object.keys(zones.az1.hosts), ['compute2']);
    assert.deepEqual(zones['az-off'], { zoneName: 'az-off', zoneState: { available: false }, hosts: null });
  });

  it('works with `openstack availability zone list --compute`', { skip: backendSkip('openstack CLI', commandExists('openstack')) }, async () => {
    const vars = (token: string): Record<string, string> => ({
      OS_AUTH_TYPE: 'admin_token', OS_ENDPOINT: `${h.url}/v2.1`, OS_TOKEN: token, OS_COMPUTE_API_VERSION: '2.37', HOME: '/tmp',
    });
    type Row = { 'Zone Name': string; 'Zone Status': string; 'Host Name'?: string; 'Service Name'?: string; 'Service Status'?: string };
    const member = await openstackJson<Row[]>(['availability', 'zone', 'list', '--compute'], vars(h.member.token));
    assert.deepEqual(member.map((z) => [z['Zone Name'], z['Zone Status']]), [['az1', 'available'], ['nova', 'available'], ['az-off', 'not available']]);
    const admin = await openstackJson<Row[]>(['availability', 'zone', 'list', '--compute', '--long'], vars(h.admin.token));
    const c1 = admin.find((z) => z['Host Name'] === 'compute1');
    assert.equal(c1?.['Zone Name'], 'nova');
    assert.equal(c1?.['Service Name'], 'nova-compute');
    assert.match(c1?.['Service Status'] ?? '', /^enabled :-\) /);
    assert.ok(admin.some((z) => z['Zone Name'] === 'internal' && z['Service Name'] === 'nova-conductor'));
  });
});
