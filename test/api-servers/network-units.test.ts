import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { cidrContains } from '../../src/api/cidr.js';
import { addressesOf } from '../../src/api/server-ips.js';
import { COMPUTE_API } from '../../src/rpc/compute-api.js';
import { CONDUCTOR_API } from '../../src/rpc/conductor-api.js';
import type { Instance, RequestSpec } from '../../src/objects/compute.js';
import type { VifInfo } from '../../src/objects/network.js';

/** The pieces of the compute side of networking that need no cloud: address arithmetic, the addresses view, the RPC versions. */

const vif: VifInfo = {
  port_id: 'p1', network_id: 'n1', network_label: 'private', mac: 'fa:16:3e:00:00:01', mtu: 1450, created_by_compute: true,
  fixed_ips: [{ address: '10.0.0.5', version: 4, subnet_id: 's1', floating_ips: ['172.24.4.10'] }],
};

describe('compute networking units', () => {
  it('cidrContains: v4, v6, malformed', () => {
    assert.equal(cidrContains('10.0.0.0/24', '10.0.0.255'), true);
    assert.equal(cidrContains('10.0.0.0/24', '10.0.1.0'), false);
    assert.equal(cidrContains('10.0.0.0/0', '192.168.1.1'), true);
    assert.equal(cidrContains('fd00::/64', 'fd00::1'), true);
    assert.equal(cidrContains('fd00::/64', 'fd00:0:0:1::1'), false);
    assert.equal(cidrContains('fd00::/64', '10.0.0.1'), false);
    assert.equal(cidrContains('10.0.0.0/33', '10.0.0.1'), false);
    assert.equal(cidrContains('nonsense', '10.0.0.1'), false);
  });

  it("addresses: Nova's shape, fixed then floating; a label is data", () => {
    const a = addressesOf([vif, { ...vif, port_id: 'p2', network_label: '__proto__', fixed_ips: [{ address: 'fd00::5', version: 6, subnet_id: 's2', floating_ips: [] }] }]);
    assert.deepEqual(JSON.parse(JSON.stringify(a)), {
      private: [
        { version: 4, addr: '10.0.0.5', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' },
        { version: 4, addr: '172.24.4.10', 'OS-EXT-IPS:type': 'floating', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' },
      ],
      ['__proto__']: [{ version: 6, addr: 'fd00::5', 'OS-EXT-IPS:type': 'fixed', 'OS-EXT-IPS-MAC:mac_addr': 'fa:16:3e:00:00:01' }],
    });
    assert.deepEqual(Object.keys(addressesOf(null)), []);
  });

  it('conductor 1.7 carries the info cache; a 1.6 receiver is sent none of it', () => {
    const args = { uuid: 'u', updates: { taskState: null, networkInfo: [vif] }, expectedTaskState: null, returnInstance: false, actionEvent: null };
    const at17 = CONDUCTOR_API.methods.instance_update.encodeArgs(args, '1.7') as { updates: Record<string, unknown> };
    assert.deepEqual(at17.updates.networkInfo, [vif]);
    const at16 = CONDUCTOR_API.methods.instance_update.encodeArgs(args, '1.6') as { updates: Record<string, unknown> };
    assert.equal('networkInfo' in at16.updates, false);
    assert.equal(at16.updates.taskState, null);
  });

  it('compute 1.4 carries the requested networks and the cache; older pins get the objects backported', () => {
    const spec = { instanceUuids: ['u'], network: { mode: 'auto', networks: [], securityGroupIds: [] } } as unknown as RequestSpec;
    const instance = { uuid: 'u', hostname: 'h', networkInfo: [vif] } as unknown as Instance;
    const def = COMPUTE_API.methods.build_and_run_instance;
    const now = def.encodeArgs({ instance, node: 'n', spec }, '1.4') as any;
    assert.equal(now.request_spec.version, '1.1');
    assert.deepEqual(now.request_spec.data.network.mode, 'auto');
    assert.equal(now.instance.version, '1.2');
    assert.deepEqual(now.instance.data.networkInfo, [vif]);
    const old = def.encodeArgs({ instance, node: 'n', spec }, '1.3') as any;
    assert.equal(old.request_spec.version, '1.0');
    assert.equal('network' in old.request_spec.data, false);
    assert.equal(old.instance.version, '1.1');
    assert.equal('networkInfo' in old.instance.data, false);
    assert.equal(COMPUTE_API.methods.attach_interface.since, '1.4');
  });
});
