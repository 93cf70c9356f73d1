import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { routerHostState } from '../../src/network/router-host-state.js';
import type { Login } from '../identity/harness.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';
import { externalNetwork, l3Agent, network, port, subnet } from './l3-fixtures.js';
import { pgSkip } from '../support/postgres.js';

for (const engine of ['sqlite', 'postgresql'] as const) {
  describe(`network API: routers, interfaces, extra routes, floating IPs, L3 host state (${engine})`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
    let s: NetServices;
    let admin: Login;
    let alice: Login; // member of alpha
    let reader: Login; // reader of alpha
    let bob: Login; // member of beta
    let ext: { networkId: string; subnetId: string };
    let aNet: string;
    let aSub: string;
    let routerId: string;
    let serverPort: string;
    const serverId = '5a3c1f0e-0000-4000-8000-000000000001';

    before(async () => {
      s = await startNet(engine);
      admin = await adminOf(s);
      alice = await userWith(s, admin, 'alpha', 'alice', 'member');
      reader = await userWith(s, admin, 'alpha', 'rita', 'reader');
      bob = await userWith(s, admin, 'beta', 'bob', 'member');
      ext = await externalNetwork(s, admin, '172.24.4.0/24');
      aNet = await network(s, alice, { name: 'private' });
      aSub = await subnet(s, alice, aNet, '10.0.0.0/24');
      await l3Agent(s.db, 'net1');
    });
    after(async () => s?.close());

    it('creates a router with a gateway on the external network; member may not choose SNAT; reader may not create', async () => {
      const r = await net(s, alice, 'POST', '/v2.0/routers', { router: { name: 'r1', external_gateway_info: { network_id: ext.networkId } } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      const v = r.body.router;
      routerId = v.id;
      assert.equal(v.project_id, alice.projectId);
      assert.equal(v.status, 'ACTIVE');
      assert.equal(v.external_gateway_info.network_id, ext.networkId);
      assert.equal(v.external_gateway_info.enable_snat, true);
      assert.equal(v.external_gateway_info.external_fixed_ips.length, 1);
      assert.equal(v.external_gateway_info.external_fixed_ips[0].subnet_id, ext.subnetId);
      assert.match(v.external_gateway_info.external_fixed_ips[0].ip_address, /^172\.24\.4\.\d+$/);
      assert.deepEqual(v.routes, []);
      const gw = await s.db.selectFrom('ports').selectAll().where('device_id', '=', routerId).executeTakeFirstOrThrow();
      assert.equal(gw.device_owner, 'network:router_gateway');
      assert.equal(gw.binding_host_id, 'net1', 'router ports are bound to the L3 agent host');
      assert.equal(gw.port_security_enabled, 0);

      const snat = await net(s, alice, 'POST', '/v2.0/routers', { router: { external_gateway_info: { network_id: ext.networkId, enable_snat: false } } });
      assert.equal(snat.status, 403);
      assert.match(snat.body.NeutronError.message, /\(rule:create_router:external_gateway_info:enable_snat\) is disallowed by policy/);
      assert.equal((await net(s, reader, 'POST', '/v2.0/routers', { router: { name: 'x' } })).status, 403);
      const internal = await net(s, alice, 'POST', '/v2.0/routers', { router: { external_gateway_info: { network_id: aNet } } });
      assert.equal(internal.status, 400);
      assert.match(internal.body.NeutronError.message, /is not a valid external network/);
      assert.equal((await s.db.selectFrom('routers').select('id').execute()).length, 1, 'a refused create leaves no router');
    });

    it("shows a project's routers to its reader and nobody else's (another project's is a 404)", async () => {
      assert.equal((await net(s, reader, 'GET', `/v2.0/routers/${routerId}`)).status, 200);
      const other = await net(s, bob, 'GET', `/v2.0/routers/${routerId}`);
      assert.equal(other.status, 404);
      assert.equal(other.body.NeutronError.type, 'RouterNotFound');
      assert.equal((await net(s, bob, 'PUT', `/v2.0/routers/${routerId}`, { router: { name: 'x' } })).status, 404);
      assert.equal((await net(s, bob, 'DELETE', `/v2.0/routers/${routerId}`)).status, 404);
      assert.deepEqual((await net(s, bob, 'GET', '/v2.0/routers')).body.routers, []);
      const list = await net(s, alice, 'GET', '/v2.0/routers?name=r1&fields=id&fields=name');
      assert.deepEqual(list.body.routers, [{ id: routerId, name: 'r1' }]);
    });

    it('adds an interface by subnet on the gateway address, refuses it twice, an overlap, and another project', async () => {
      const r = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: aSub });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.subnet_id, aSub);
      assert.deepEqual(r.body.subnet_ids, [aSub]);
      assert.equal(r.body.network_id, aNet);
      const p = await s.db.selectFrom('ports').selectAll().where('id', '=', r.body.port_id).executeTakeFirstOrThrow();
      assert.equal(p.device_owner, 'network:router_interface');
      assert.equal(p.device_id, routerId);
      const ip = await s.db.selectFrom('ip_allocations').selectAll().where('port_id', '=', p.id).executeTakeFirstOrThrow();
      assert.equal(ip.ip_address, '10.0.0.1');
      assert.equal((await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: aSub })).status, 400);
      const n2 = await network(s, alice, { name: 'overlapping' });
      const s2 = await subnet(s, alice, n2, '10.0.0.0/25');
      const o = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: s2 });
      assert.equal(o.status, 400);
      assert.match(o.body.NeutronError.message, /overlaps/);
      assert.equal((await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: aSub, port_id: 'x' })).status, 400);
      const bNet = await network(s, bob, { name: 'b' });
      const bSub = await subnet(s, bob, bNet, '10.9.0.0/24');
      assert.equal((await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { subnet_id: bSub })).status, 404);
    });

    it('adds an interface by an unused port and refuses a port in use', async () => {
      const n3 = await network(s, alice, { name: 'third' });
      const s3 = await subnet(s, alice, n3, '10.3.0.0/24');
      const free = await port(s, alice, { networkId: n3, subnetId: s3, ip: '10.3.0.2' });
      const r = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { port_id: free });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.port_id, free);
      const used = await port(s, alice, { networkId: n3, subnetId: s3, ip: '10.3.0.9', deviceId: serverId });
      const u = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_router_interface`, { port_id: used });
      assert.equal(u.status, 409);
      assert.equal(u.body.NeutronError.type, 'PortInUse');
      const rm = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { port_id: free });
      assert.equal(rm.status, 200);
      assert.equal(await s.db.selectFrom('ports').select('id').where('id', '=', free).executeTakeFirst(), undefined, 'the interface port is deleted');
      const again = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { port_id: free });
      assert.equal(again.status, 404);
      assert.equal(again.body.NeutronError.type, 'RouterInterfaceNotFound');
    });

    it('sets static routes whose next hop is on a connected subnet (extraroute and extraroute-atomic)', async () => {
      const bad = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}`, { router: { routes: [{ destination: '192.168.0.0/24', nexthop: '10.7.0.5' }] } });
      assert.equal(bad.status, 400);
      assert.equal(bad.body.NeutronError.type, 'InvalidRoutes');
      const ok = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}`, { router: { routes: [{ destination: '192.168.0.0/24', nexthop: '10.0.0.5' }] } });
      assert.equal(ok.status, 200, JSON.stringify(ok.body));
      assert.deepEqual(ok.body.router.routes, [{ destination: '192.168.0.0/24', nexthop: '10.0.0.5' }]);
      const add = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/add_extraroutes`, { router: { routes: [{ destination: '192.168.1.0/24', nexthop: '10.0.0.6' }] } });
      assert.equal(add.body.router.routes.length, 2);
      const rmi = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { subnet_id: aSub });
      assert.equal(rmi.status, 409, 'a subnet a route needs cannot be removed');
      const del = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_extraroutes`, { router: { routes: [{ destination: '192.168.1.0/24', nexthop: '10.0.0.6' }, { destination: '192.168.0.0/24', nexthop: '10.0.0.5' }] } });
      assert.deepEqual(del.body.router.routes, []);
      assert.equal((await net(s, reader, 'PUT', `/v2.0/routers/${routerId}`, { router: { name: 'no' } })).status, 403);
    });

    let fipId: string;
    it('makes a floating IP on the external network only; its address is admin-chosen only', async () => {
      const bad = await net(s, alice, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: aNet } });
      assert.equal(bad.status, 400);
      const chosen = await net(s, alice, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId, floating_ip_address: '172.24.4.200' } });
      assert.equal(chosen.status, 403);
      const r = await net(s, alice, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId } });
      assert.equal(r.status, 201, JSON.stringify(r.body));
      fipId = r.body.floatingip.id;
      assert.equal(r.body.floatingip.status, 'DOWN');
      assert.equal(r.body.floatingip.port_id, null);
      assert.match(r.body.floatingip.floating_ip_address, /^172\.24\.4\.\d+$/);
      const holder = await s.db.selectFrom('ports').selectAll().where('device_id', '=', fipId).executeTakeFirstOrThrow();
      assert.equal(holder.device_owner, 'network:floatingip');
      const a = await net(s, admin, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId, floating_ip_address: '172.24.4.200', project_id: alice.projectId } });
      assert.equal(a.status, 201);
      assert.equal(a.body.floatingip.floating_ip_address, '172.24.4.200');
      const dup = await net(s, admin, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId, floating_ip_address: '172.24.4.200' } });
      assert.equal(dup.status, 409);
      assert.equal(dup.body.NeutronError.type, 'IpAddressInUse');
      assert.equal((await net(s, alice, 'DELETE', `/v2.0/floatingips/${a.body.floatingip.id}`)).status, 204);
      assert.equal((await net(s, bob, 'GET', `/v2.0/floatingips/${fipId}`)).status, 404);
    });

    it('associates a floating IP through the router, one per fixed address, Nova told; DOWN again when disassociated', async () => {
      serverPort = await port(s, alice, { networkId: aNet, subnetId: aSub, ip: '10.0.0.10', deviceId: serverId });
      const n4 = await network(s, alice, { name: 'unrouted' });
      const s4 = await subnet(s, alice, n4, '10.4.0.0/24');
      const lonely = await port(s, alice, { networkId: n4, subnetId: s4, ip: '10.4.0.10' });
      const nogw = await net(s, alice, 'PUT', `/v2.0/floatingips/${fipId}`, { floatingip: { port_id: lonely } });
      assert.equal(nogw.status, 404);
      assert.equal(nogw.body.NeutronError.type, 'ExternalGatewayForFloatingIPNotFound');
      const wrongIp = await net(s, alice, 'PUT', `/v2.0/floatingips/${fipId}`, { floatingip: { port_id: serverPort, fixed_ip_address: '10.0.0.11' } });
      assert.equal(wrongIp.status, 400);
      const bobs = await net(s, bob, 'PUT', `/v2.0/floatingips/${fipId}`, { floatingip: { port_id: serverPort } });
      assert.equal(bobs.status, 404);
      s.events.length = 0;
      const r = await net(s, alice, 'PUT', `/v2.0/floatingips/${fipId}`, { floatingip: { port_id: serverPort } });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      assert.equal(r.body.floatingip.status, 'ACTIVE');
      assert.equal(r.body.floatingip.router_id, routerId);
      assert.equal(r.body.floatingip.fixed_ip_address, '10.0.0.10');
      await new Promise((res) => setTimeout(res, 50));
      assert.deepEqual(s.events.map((e) => [e.name, e.server_uuid, e.tag]), [['network-changed', serverId, serverPort]]);

      const second = await net(s, alice, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId, port_id: serverPort } });
      assert.equal(second.status, 409);
      assert.equal(second.body.NeutronError.type, 'FloatingIPPortAlreadyAssociated');
      const fips = await s.db.selectFrom('floating_ips').select('id').execute();
      assert.equal(fips.length, 1, 'the refused floating IP left nothing (its port neither)');
      assert.equal((await s.db.selectFrom('ports').select('id').where('device_owner', '=', 'network:floatingip').execute()).length, 1);

      const gwClear = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}`, { router: { external_gateway_info: {} } });
      assert.equal(gwClear.status, 409);
      assert.equal(gwClear.body.NeutronError.type, 'RouterExternalGatewayInUseByFloatingIp');
      const rmi = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { subnet_id: aSub });
      assert.equal(rmi.status, 409);
      assert.equal(rmi.body.NeutronError.type, 'RouterInterfaceInUseByFloatingIP');
    });

    it("answers the router and its floating IP in the L3 agent host's desired state, and moves it off a dead agent", async () => {
      const st = await routerHostState(s.db, 'net1', { nowMs: Date.now(), agentDownTimeS: 75 });
      assert.equal(st.routers.length, 1);
      const r = st.routers[0]!;
      assert.equal(r.id, routerId);
      assert.equal(r.namespace, `qrouter-${routerId}`);
      assert.equal(r.enable_snat, true);
      assert.equal(r.interfaces.length, 1);
      assert.equal(r.interfaces[0]!.interface.slice(0, 3), 'qr-');
      assert.equal(r.interfaces[0]!.bridge_name, `brq${aNet.slice(0, 11)}`);
      assert.deepEqual(r.interfaces[0]!.fixed_ips.map((f) => [f.ip_address, f.prefixlen, f.cidr]), [['10.0.0.1', 24, '10.0.0.0/24']]);
      assert.equal(r.interfaces[0]!.mtu, 1450);
      assert.equal(r.gateway!.interface.slice(0, 3), 'qg-');
      assert.deepEqual(r.gateway!.gateway_ips, ['172.24.4.1']);
      assert.equal(r.gateway!.mtu, 1500);
      assert.deepEqual(st.floating_ips.map((f) => [f.fixed_ip_address, f.port_id]), [['10.0.0.10', serverPort]]);
      assert.deepEqual((await routerHostState(s.db, 'net2', { nowMs: Date.now(), agentDownTimeS: 75 })).routers, []);
      // net1 stops reporting; net2 is alive: the router moves, its ports with it.
      await l3Agent(s.db, 'net1', 600);
      await l3Agent(s.db, 'net2');
      const moved = await routerHostState(s.db, 'net2', { nowMs: Date.now(), agentDownTimeS: 75 });
      assert.deepEqual(moved.routers.map((x) => x.id), [routerId]);
      const bound = await s.db.selectFrom('ports').select('binding_host_id').where('device_id', '=', routerId).execute();
      assert.ok(bound.every((b) => b.binding_host_id === 'net2'), JSON.stringify(bound));
      assert.deepEqual((await routerHostState(s.db, 'net1', { nowMs: Date.now(), agentDownTimeS: 75 })).routers, []);
    });

    it("answers the routers in the agent report endpoint's host_state, with the router's ports among the host's ports", async () => {
      const r = await net(s, admin, 'POST', '/v2.0/agents/report', {
        agent: { host: 'net2', agent_type: 'Linux bridge agent', binary: 'orrery-network-agent', availability_zone: 'nova',
          configurations: { tunneling_ip: '10.99.0.2', l3: true, interface_mappings: { external: 'ext0' } }, devices_up: [], devices_down: [] },
      });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      const hs = r.body.host_state;
      assert.deepEqual(hs.routers.map((x: { id: string }) => x.id), [routerId]);
      assert.equal(hs.floating_ips.length, 1);
      const routerPortIds = [hs.routers[0].gateway.port_id, ...hs.routers[0].interfaces.map((i: { port_id: string }) => i.port_id)];
      for (const id of routerPortIds) {
        const p = hs.ports.find((x: { id: string }) => x.id === id);
        assert.ok(p, `router port ${id} is among the host's ports`);
        assert.equal(p.port_security_enabled, false);
        assert.equal(p.tap_name, `tap${id.slice(0, 11)}`);
      }
      assert.ok(hs.networks.some((n: { id: string }) => n.id === ext.networkId), 'the external network is among the host networks');
    });

    it('spreads new routers over the live L3 agents (fewest routers first)', async () => {
      await l3Agent(s.db, 'net1');
      const r = await net(s, alice, 'POST', '/v2.0/routers', { router: { name: 'r2' } });
      assert.equal(r.status, 201);
      const row = await s.db.selectFrom('routers').select('agent_host').where('id', '=', r.body.router.id).executeTakeFirstOrThrow();
      assert.equal(row.agent_host, 'net1', 'net2 already serves r1');
      assert.equal((await net(s, alice, 'DELETE', `/v2.0/routers/${r.body.router.id}`)).status, 204);
    });

    it('disassociates, then refuses deleting a router with interfaces (RouterInUse), then deletes it and its ports', async () => {
      const d = await net(s, alice, 'PUT', `/v2.0/floatingips/${fipId}`, { floatingip: { port_id: null } });
      assert.equal(d.status, 200);
      assert.equal(d.body.floatingip.status, 'DOWN');
      assert.equal(d.body.floatingip.router_id, null);
      const inUse = await net(s, alice, 'DELETE', `/v2.0/routers/${routerId}`);
      assert.equal(inUse.status, 409);
      assert.equal(inUse.body.NeutronError.type, 'RouterInUse');
      assert.equal((await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { subnet_id: aSub })).status, 200);
      const rm2 = await net(s, alice, 'PUT', `/v2.0/routers/${routerId}/remove_router_interface`, { subnet_id: aSub });
      assert.equal(rm2.body.NeutronError.type, 'RouterInterfaceNotFoundForSubnet');
      assert.equal((await net(s, alice, 'DELETE', `/v2.0/routers/${routerId}`)).status, 204);
      assert.deepEqual(await s.db.selectFrom('ports').select('id').where('device_id', '=', routerId).execute(), []);
      assert.equal((await net(s, alice, 'DELETE', `/v2.0/floatingips/${fipId}`)).status, 204);
      assert.deepEqual(await s.db.selectFrom('ports').select('id').where('device_owner', '=', 'network:floatingip').execute(), []);
    });

    it("a deleted server port loses its floating IP (disassociated, DOWN, no NAT)", async () => {
      const f = await net(s, alice, 'POST', '/v2.0/floatingips', { floatingip: { floating_network_id: ext.networkId } });
      const r = await net(s, alice, 'POST', '/v2.0/routers', { router: { name: 'r3', external_gateway_info: { network_id: ext.networkId } } });
      await net(s, alice, 'PUT', `/v2.0/routers/${r.body.router.id}/add_router_interface`, { subnet_id: aSub });
      const p = await port(s, alice, { networkId: aNet, subnetId: aSub, ip: '10.0.0.20', deviceId: serverId });
      const a = await net(s, alice, 'PUT', `/v2.0/floatingips/${f.body.floatingip.id}`, { floatingip: { port_id: p } });
      assert.equal(a.body.floatingip.status, 'ACTIVE');
      assert.equal((await net(s, alice, 'DELETE', `/v2.0/ports/${p}`)).status, 204);
      const after1 = await net(s, alice, 'GET', `/v2.0/floatingips/${f.body.floatingip.id}`);
      assert.equal(after1.body.floatingip.port_id, null);
      assert.equal(after1.body.floatingip.status, 'DOWN');
      const port2 = await net(s, alice, 'DELETE', `/v2.0/ports/${(await s.db.selectFrom('ports').select('id').where('device_id', '=', r.body.router.id).where('device_owner', '=', 'network:router_interface').executeTakeFirstOrThrow()).id}`);
      assert.equal(port2.status, 409, 'the port API refuses to delete a router interface');
    });

    it('lists the L3 extensions', async () => {
      const e = await net(s, alice, 'GET', '/v2.0/extensions');
      const aliases = e.body.extensions.map((x: { alias: string }) => x.alias);
      for (const a of ['router', 'ext-gw-mode', 'extraroute', 'extraroute-atomic', 'auto-allocated-topology']) assert.ok(aliases.includes(a), a);
    });
  });
}
