import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Login } from '../identity/harness.js';
import { pgSkip } from '../support/postgres.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';

for (const engine of ['sqlite', 'postgresql'] as const) {
  describe(`IPAM under concurrency (${engine})`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
    let s: NetServices;
    let admin: Login;
    let alice: Login;
    before(async () => {
      s = await startNet(engine);
      admin = await adminOf(s);
      alice = await userWith(s, admin, 'alpha', 'alice', 'member');
      // Room for the 100 creates (Neutron's default port quota is 500; the test's project uses ~100).
    });
    after(async () => s?.close());

    it('100 parallel port creates on a /26: exactly 61 distinct addresses, the other 39 answered 409 IpAddressGenerationFailure', async () => {
      const n = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'conc' } });
      const sub = await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: n.body.network.id, ip_version: 4, cidr: '10.9.0.0/26' } });
      assert.equal(sub.status, 201, JSON.stringify(sub.body));
      assert.deepEqual(sub.body.subnet.allocation_pools, [{ start: '10.9.0.2', end: '10.9.0.62' }]);
      const rs = await Promise.all([...Array(100).keys()].map((i) =>
        net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: n.body.network.id, name: `p${i}` } })));
      const ok = rs.filter((r) => r.status === 201);
      const refused = rs.filter((r) => r.status !== 201);
      assert.equal(ok.length, 61, JSON.stringify(refused.find((r) => r.status !== 409)?.body));
      assert.equal(refused.length, 39);
      for (const r of refused) {
        assert.equal(r.status, 409);
        assert.equal(r.body.NeutronError.type, 'IpAddressGenerationFailure');
      }
      const addrs = ok.map((r) => r.body.port.fixed_ips[0].ip_address);
      assert.equal(new Set(addrs).size, 61);
      assert.ok(!addrs.includes('10.9.0.1'));
      // Nothing half-made: the refused creates left no port behind.
      const list = await net(s, alice, 'GET', `/v2.0/ports?network_id=${n.body.network.id}`);
      assert.equal(list.body.ports.length, 61);
      assert.ok(list.body.ports.every((p: { fixed_ips: unknown[] }) => p.fixed_ips.length === 1));
    });

    it('concurrent creates asking for one address: one gets it, the rest 409 IpAddressInUse', async () => {
      const n = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'same' } });
      const sub = await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: n.body.network.id, ip_version: 4, cidr: '10.8.0.0/24' } });
      const rs = await Promise.all([...Array(10).keys()].map(() =>
        net(s, alice, 'POST', '/v2.0/ports', { port: { network_id: n.body.network.id, fixed_ips: [{ subnet_id: sub.body.subnet.id, ip_address: '10.8.0.77' }] } })));
      assert.equal(rs.filter((r) => r.status === 201).length, 1);
      for (const r of rs.filter((x) => x.status !== 201)) assert.equal(r.body.NeutronError.type, 'IpAddressInUse');
    });
  });
}
