import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Login } from '../identity/harness.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';
import { externalNetwork, port } from './l3-fixtures.js';
import { pgSkip } from '../support/postgres.js';

/** get-me-a-network: GET/DELETE /v2.0/auto-allocated-topology/{project_id}, on SQLite and PostgreSQL. */
for (const engine of ['sqlite', 'postgresql'] as const) {
  const skip = engine === 'postgresql' ? pgSkip : false;
  describe(`network API: auto-allocated topology (${engine})`, { skip }, () => {
    let s: NetServices;
    let admin: Login;
    let alice: Login;
    let bob: Login;
    let carol: Login;
    before(async () => {
      s = await startNet(engine, { network: { auto_allocate_subnet_pool: '10.200.0.0/23' } });
      admin = await adminOf(s);
      alice = await userWith(s, admin, 'alpha', 'alice', 'member');
      bob = await userWith(s, admin, 'beta', 'bob', 'member');
      carol = await userWith(s, admin, 'gamma', 'carol', 'member');
    });
    after(async () => s?.close());

    it('without a default external network: a network and a /24 subnet, no router; the same answer again', async () => {
      const dry = await net(s, alice, 'GET', `/v2.0/auto-allocated-topology/${alice.projectId}?fields=dry-run`);
      assert.equal(dry.status, 200);
      assert.equal(dry.body.auto_allocated_topology.id, 'dry-run=pass');
      assert.deepEqual((await net(s, alice, 'GET', '/v2.0/networks')).body.networks, [], 'dry-run makes nothing');
      const r = await net(s, alice, 'GET', `/v2.0/auto-allocated-topology/${alice.projectId}`);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const id = r.body.auto_allocated_topology.id;
      assert.equal(r.body.auto_allocated_topology.project_id, alice.projectId);
      const n = await net(s, alice, 'GET', `/v2.0/networks/${id}`);
      assert.equal(n.body.network.name, 'auto_allocated_network');
      assert.equal(n.body.network.project_id, alice.projectId);
      const subs = (await net(s, alice, 'GET', `/v2.0/subnets?network_id=${id}`)).body.subnets;
      assert.equal(subs.length, 1);
      assert.equal(subs[0].cidr, '10.200.0.0/24');
      assert.equal(subs[0].gateway_ip, '10.200.0.1');
      assert.deepEqual((await net(s, alice, 'GET', '/v2.0/routers')).body.routers, []);
      const again = await net(s, alice, 'GET', `/v2.0/auto-allocated-topology/${alice.projectId}`);
      assert.equal(again.body.auto_allocated_topology.id, id);
    });

    it("refuses another project's topology; a reader cannot make one", async () => {
      const r = await net(s, bob, 'GET', `/v2.0/auto-allocated-topology/${alice.projectId}`);
      assert.equal(r.status, 403);
      assert.equal((await net(s, bob, 'DELETE', `/v2.0/auto-allocated-topology/${alice.projectId}`)).status, 403);
      const rita = await userWith(s, admin, 'alpha', 'rita', 'reader');
      assert.equal((await net(s, rita, 'GET', `/v2.0/auto-allocated-topology/${alice.projectId}`)).status, 403);
    });

    it('with a default external network, concurrent requests of one project make one topology with a router; another project gets its own /24', async () => {
      const ext = await externalNetwork(s, admin, '172.25.0.0/24', true);
      const answers = await Promise.all([1, 2, 3, 4].map(() => net(s, bob, 'GET', `/v2.0/auto-allocated-topology/${bob.projectId}`)));
      for (const a of answers) assert.equal(a.status, 200, JSON.stringify(answers.map((x) => x.body)));
      const ids = new Set(answers.map((a) => a.body.auto_allocated_topology.id));
      assert.equal(ids.size, 1, 'one network for all four requests');
      const nets = (await net(s, bob, 'GET', '/v2.0/networks?name=auto_allocated_network')).body.networks;
      assert.equal(nets.length, 1);
      const routers = (await net(s, bob, 'GET', '/v2.0/routers')).body.routers;
      assert.equal(routers.length, 1);
      assert.equal(routers[0].name, 'auto_allocated_router');
      assert.equal(routers[0].external_gateway_info.network_id, ext.networkId);
      const subs = (await net(s, bob, 'GET', `/v2.0/subnets?network_id=${nets[0].id}`)).body.subnets;
      assert.equal(subs[0].cidr, '10.200.1.0/24', "bob's /24 is not alice's");
      const iface = await s.db.selectFrom('ports').innerJoin('ip_allocations', 'ip_allocations.port_id', 'ports.id')
        .select(['ports.device_owner', 'ip_allocations.ip_address']).where('ports.device_id', '=', routers[0].id).where('ports.network_id', '=', nets[0].id).execute();
      assert.deepEqual(iface, [{ device_owner: 'network:router_interface', ip_address: '10.200.1.1' }]);
      // The pool (a /23) is now used up: a third project is refused, with nothing left behind.
      const c = await net(s, carol, 'GET', `/v2.0/auto-allocated-topology/${carol.projectId}`);
      assert.equal(c.status, 409);
      assert.equal(c.body.NeutronError.type, 'AutoAllocationFailure');
      assert.deepEqual((await net(s, carol, 'GET', '/v2.0/networks?name=auto_allocated_network')).body.networks, []);
    });

    it('DELETE tears it down (refused while a server port is on it); the /24 is free again', async () => {
      const id = (await net(s, bob, 'GET', `/v2.0/auto-allocated-topology/${bob.projectId}`)).body.auto_allocated_topology.id;
      const sub = (await net(s, bob, 'GET', `/v2.0/subnets?network_id=${id}`)).body.subnets[0].id;
      const p = await port(s, bob, { networkId: id, subnetId: sub, ip: '10.200.1.50', deviceId: '5a3c1f0e-0000-4000-8000-0000000000b1' });
      const busy = await net(s, bob, 'DELETE', `/v2.0/auto-allocated-topology/${bob.projectId}`);
      assert.equal(busy.status, 409);
      assert.equal((await net(s, bob, 'GET', '/v2.0/routers')).body.routers.length, 1, 'a refused delete leaves the router');
      assert.equal((await net(s, bob, 'DELETE', `/v2.0/ports/${p}`)).status, 204);
      assert.equal((await net(s, bob, 'DELETE', `/v2.0/auto-allocated-topology/${bob.projectId}`)).status, 204);
      assert.deepEqual((await net(s, bob, 'GET', '/v2.0/routers')).body.routers, []);
      assert.equal((await net(s, bob, 'GET', `/v2.0/networks/${id}`)).status, 404);
      assert.equal((await net(s, bob, 'DELETE', `/v2.0/auto-allocated-topology/${bob.projectId}`)).status, 404);
      const c = await net(s, carol, 'GET', `/v2.0/auto-allocated-topology/${carol.projectId}`);
      assert.equal(c.status, 200, JSON.stringify(c.body));
      const cs = (await net(s, carol, 'GET', `/v2.0/subnets?network_id=${c.body.auto_allocated_topology.id}`)).body.subnets;
      assert.equal(cs[0].cidr, '10.200.1.0/24');
    });
  });
}
