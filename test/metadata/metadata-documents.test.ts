import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { networkData, netmaskOf, networkAddressOf, type MetadataSubnet } from '../../src/api/metadata-network.js';
import { pathTokens, openstackVersions } from '../../src/api/metadata-documents.js';
import { instanceIdSignatureValid, signInstanceId } from '../../src/common/metadata-secret.js';
import { metadataProxyCommand } from '../../src/netagent/metadata-proxy-command.js';
import { parseProxyArgs } from '../../src/netagent/metadata-proxy.js';
import type { CachedVif } from '../../src/db/schema-network.js';
import { createHmac } from 'node:crypto';

describe('metadata documents', () => {
  const subnet = (over: Partial<MetadataSubnet>): MetadataSubnet => ({
    id: 's4', cidr: '10.0.0.0/24', ip_version: 4, gateway_ip: '10.0.0.1', enable_dhcp: false, dns_nameservers: ['8.8.8.8'],
    host_routes: [{ destination: '192.168.0.0/16', nexthop: '10.0.0.254' }], ...over,
  });
  const vif: CachedVif = {
    port_id: 'abcdef01-2345-6789', network_id: 'n1', network_label: 'private', mac: 'fa:16:3e:11:22:33', mtu: 1450, created_by_compute: true,
    fixed_ips: [
      { address: '10.0.0.5', version: 4, subnet_id: 's4', floating_ips: [] },
      { address: 'fd00::5', version: 6, subnet_id: 's6', floating_ips: [] },
    ],
  };

  it('network_data.json has Nova netutils shape: links, networks with routes, DNS services', () => {
    const subnets = new Map([
      ['s4', subnet({})],
      ['s6', subnet({ id: 's6', cidr: 'fd00::/64', ip_version: 6, gateway_ip: 'fd00::1', dns_nameservers: ['8.8.8.8', 'fd00::53'], host_routes: [] })],
    ]);
    assert.deepEqual(networkData([vif], subnets), {
      links: [{ id: 'tapabcdef01-23', vif_id: 'abcdef01-2345-6789', type: 'bridge', mtu: 1450, ethernet_mac_address: 'fa:16:3e:11:22:33' }],
      networks: [
        {
          id: 'network0', type: 'ipv4', link: 'tapabcdef01-23', ip_address: '10.0.0.5', netmask: '255.255.255.0',
          routes: [{ network: '0.0.0.0', netmask: '0.0.0.0', gateway: '10.0.0.1' }, { network: '192.168.0.0', netmask: '255.255.0.0', gateway: '10.0.0.254' }],
          network_id: 'n1', services: [{ type: 'dns', address: '8.8.8.8' }],
        },
        {
          id: 'network1', type: 'ipv6', link: 'tapabcdef01-23', ip_address: 'fd00::5', netmask: 'ffff:ffff:ffff:ffff::',
          routes: [{ network: '::', netmask: '::', gateway: 'fd00::1' }], network_id: 'n1',
          services: [{ type: 'dns', address: '8.8.8.8' }, { type: 'dns', address: 'fd00::53' }],
        },
      ],
      services: [{ type: 'dns', address: '8.8.8.8' }, { type: 'dns', address: 'fd00::53' }],
    });
  });

  it('a DHCP-enabled IPv4 subnet is ipv4_dhcp; a subnet without gateway has no default route', () => {
    const dhcp = networkData([{ ...vif, fixed_ips: [vif.fixed_ips[0]!] }], new Map([['s4', subnet({ enable_dhcp: true })]])) as { networks: unknown[] };
    assert.deepEqual(dhcp.networks, [{ id: 'network0', type: 'ipv4_dhcp', link: 'tapabcdef01-23', network_id: 'n1' }]);
    const noGw = networkData([{ ...vif, fixed_ips: [vif.fixed_ips[0]!] }], new Map([['s4', subnet({ gateway_ip: null, host_routes: [] })]])) as { networks: Array<{ routes: unknown[] }> };
    assert.deepEqual(noGw.networks[0]!.routes, []);
  });

  it('masks and network addresses', () => {
    assert.equal(netmaskOf('10.0.0.0/8'), '255.0.0.0');
    assert.equal(netmaskOf('0.0.0.0/0'), '0.0.0.0');
    assert.equal(netmaskOf('10.1.2.3/32'), '255.255.255.255');
    assert.equal(netmaskOf('fd00::/56'), 'ffff:ffff:ffff:ff00::');
    assert.equal(networkAddressOf('10.1.2.3/16'), '10.1.0.0');
    assert.equal(networkAddressOf('fd00:1:2:3::9/48'), 'fd00:1:2::');
  });

  it('paths are normalised as posixpath.normpath', () => {
    assert.deepEqual(pathTokens('/openstack//latest/./meta_data.json/'), ['openstack', 'latest', 'meta_data.json']);
    assert.deepEqual(pathTokens('/../../latest/meta-data/../user-data'), ['latest', 'user-data']);
    assert.deepEqual(openstackVersions('2016-01-01'), ['2012-08-10', '2013-04-04', '2013-10-17', '2015-10-15', 'latest']);
  });

  it('the signature is HMAC-SHA256 of the instance id, hex, as Nova and Neutron compute it', () => {
    const expected = createHmac('sha256', 's3cret').update('abc').digest('hex');
    assert.equal(signInstanceId('s3cret', 'abc'), expected);
    assert.ok(instanceIdSignatureValid('s3cret', 'abc', expected));
    assert.ok(!instanceIdSignatureValid('s3cret', 'abd', expected));
    assert.ok(!instanceIdSignatureValid('s3cret', 'abc', expected.slice(1)));
  });

  it('the proxy command runs the built proxy in the namespace; its arguments parse back', () => {
    const argv = metadataProxyCommand({ networkId: 'aaaa-bbbb', namespacePath: '/run/netns/qdhcp-aaaa-bbbb', socketPath: '/var/lib/orrery/metadata_proxy', pidFile: '/tmp/p.pid' });
    assert.deepEqual(argv.slice(0, 3), ['nsenter', '--net=/run/netns/qdhcp-aaaa-bbbb', '--']);
    assert.equal(argv[3], process.execPath);
    assert.match(argv[4]!, /dist\/src\/netagent\/metadata-proxy\.js$/);
    assert.deepEqual(parseProxyArgs(argv.slice(5)), {
      networkId: 'aaaa-bbbb', socket: '/var/lib/orrery/metadata_proxy', bindAddress: '169.254.169.254', port: 80, pidFile: '/tmp/p.pid',
    });
    assert.equal(metadataProxyCommand({ networkId: 'x', namespacePath: '', socketPath: '/s' })[0], process.execPath);
    assert.throws(() => parseProxyArgs(['--socket', '/s']), /network-id/);
    assert.throws(() => parseProxyArgs(['--network-id', '../x', '--socket', '/s']), /network-id/);
  });
});
