/**
 * The all-in-one's in-process agents (one per compute host, data plane noop): they heartbeat,
 * so the API lists them alive, and report every port bound to their host wired, so such a port
 * becomes ACTIVE — what the fake driver's clouds need.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

describe('in-process network agents (noop data plane)', () => {
  let cloud: TestCloud;
  let admin: Session;
  before(async () => {
    cloud = await startTestCloud({ network_agent: { poll_interval: '0.2' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
  });
  after(async () => cloud?.close());

  test('every compute host has a live agent', async () => {
    const agents = await waitFor('two agents', async () => {
      const r = await api(admin, 'GET', `${cloud.urls.network}/v2.0/agents`);
      const mine = (r.body?.agents ?? []).filter((a: { binary: string }) => a.binary === 'orrery-network-agent');
      return mine.length === 2 ? mine : undefined;
    }, 10_000);
    assert.deepEqual(agents.map((a: { host: string }) => a.host).sort(), ['compute1', 'compute2']);
    for (const a of agents) {
      assert.equal(a.alive, true);
      assert.equal(a.agent_type, 'Linux bridge agent');
      assert.equal(a.configurations.dataplane, 'noop');
    }
  });

  test('a port bound to a compute host becomes ACTIVE; unbound, one stays DOWN', async () => {
    const n = await api(admin, 'POST', `${cloud.urls.network}/v2.0/networks`, { network: { name: 'noop' } });
    assert.equal(n.status, 201);
    const s = await api(admin, 'POST', `${cloud.urls.network}/v2.0/subnets`, { subnet: { network_id: n.body.network.id, ip_version: 4, cidr: '10.79.0.0/24' } });
    assert.equal(s.status, 201);
    const bound = await api(admin, 'POST', `${cloud.urls.network}/v2.0/ports`, { port: { network_id: n.body.network.id, device_owner: 'compute:nova', device_id: randomUUID(), 'binding:host_id': 'compute1' } });
    const unbound = await api(admin, 'POST', `${cloud.urls.network}/v2.0/ports`, { port: { network_id: n.body.network.id } });
    assert.equal(bound.status, 201);
    assert.equal(bound.body.port.status, 'DOWN');
    await waitFor('port ACTIVE', async () => {
      const r = await api(admin, 'GET', `${cloud.urls.network}/v2.0/ports/${bound.body.port.id}`);
      return r.body.port.status === 'ACTIVE' ? true : undefined;
    }, 10_000);
    assert.equal((await api(admin, 'GET', `${cloud.urls.network}/v2.0/ports/${unbound.body.port.id}`)).body.port.status, 'DOWN');
  });
});
