import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { netnsPath } from '@orrery/net-linux';
import { createLogger } from '../../src/common/logging.js';
import { startNetworkAgent, type RunningNetworkAgent } from '../../src/cmd/network-agent.js';
import { metadataProxyScript } from '../../src/netagent/metadata-proxy-command.js';
import { backendSkip } from '../support/backends.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { Lab, netnsAvailable, sh } from '../netagent/support.js';

/**
 * The whole metadata path as a guest meets it, on one simulated host (namespaces this test makes):
 * a server booted on a network through the compute API (its port made and bound by the compute
 * service, its info cache written), a network agent with the Linux data plane (which runs
 * metadataProxyCommand's proxy in the qdhcp namespace and the forwarder beside itself),
 * and a guest namespace on the port's tap that takes its address and its route to
 * 169.254.169.254 (DHCP option 121) from the host's dnsmasq, then reads its user data and its
 * network_data.json with busybox wget.
 */

const skip = backendSkip('root with ip/bridge/iptables/conntrack/dnsmasq/busybox (network namespaces)', netnsAvailable());
const SECRET = 'agent-test-secret';
const USER_DATA = '#!/bin/sh\necho agent path\n';

describe('a guest reads its metadata through the network agent', { skip }, () => {
  const lab = new Lab();
  let cloud: TestCloud;
  let admin: Session;
  let agent: RunningNetworkAgent | undefined;
  let host: { ns: string; ip: string; prefix: string };
  let guest = '';
  let serverId = '';
  let port: { id: string; mac_address: string; fixed_ips: Array<{ ip_address: string }> };

  const wget = async (path: string): Promise<string> => {
    const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', guest, 'busybox', 'wget', '-qO-', `http://169.254.169.254${path}`], { encoding: 'utf8', timeout: 15_000 });
    return stdout;
  };

  before(async () => {
    assert.ok(existsSync(metadataProxyScript()), `${metadataProxyScript()} is missing: run npx tsc -b first`);
    [host] = lab.hosts(1) as [typeof host];
    // The all-in-one's own (noop) agent for compute1 stays off: this test's agent is compute1's.
    cloud = await startTestCloud({
      DEFAULT: { compute_hosts: 'compute1' }, network_agent: { in_process: 'false' }, neutron: { metadata_proxy_shared_secret: SECRET },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const c = cloud.urls;
    const net = await api(admin, 'POST', `${c.network}/v2.0/networks`, { network: { name: `md-agent-${lab.sfx}` } });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    const sub = await api(admin, 'POST', `${c.network}/v2.0/subnets`, { subnet: { network_id: net.body.network.id, ip_version: 4, cidr: '10.79.0.0/24' } });
    assert.equal(sub.status, 201, JSON.stringify(sub.body));
    const image = await api(admin, 'GET', `${c.image}/v2/images?name=orrery-tiny`);
    const r = await api(admin, 'POST', `${c.compute}/v2.1/servers`, {
      server: { name: 'md-agent-vm', imageRef: image.body.images[0].id, flavorRef: '1', networks: [{ uuid: net.body.network.id }], user_data: Buffer.from(USER_DATA).toString('base64') },
    }, { 'openstack-api-version': 'compute 2.37' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    serverId = r.body.server.id;
    await waitFor('ACTIVE', async () => ((await api(admin, 'GET', `${c.compute}/v2.1/servers/${serverId}`)).body.server.status === 'ACTIVE' ? true : undefined));
    const ports = await api(admin, 'GET', `${c.network}/v2.0/ports?device_id=${serverId}`);
    assert.equal(ports.body.ports.length, 1, JSON.stringify(ports.body));
    port = ports.body.ports[0];
    assert.equal(port['binding:host_id' as never], 'compute1');
    guest = lab.guest(host.ns, port, 'g');

    const config = cloud.config.with({
      network_agent: {
        dataplane: 'linux', netns: netnsPath(host.ns), tunneling_ip: host.ip, namespace_prefix: host.prefix, poll_interval: '0.5',
        state_path: join(lab.dir, 'agent'),
      },
      neutron: { endpoint_override: c.network },
      // The test cloud's metadata API is on a free port.
      metadata_agent: { nova_metadata_port: new URL(c.metadata).port },
    });
    const authUrl = `${c.identity}/v3`;
    const log = createLogger('agent', process.env.ORRERY_LOG_LEVEL ?? 'warn');
    // As `orrery network-agent` starts it: a Linux data plane with metadata on wires the proxies and the forwarder itself.
    agent = await startNetworkAgent(config, 'compute1', authUrl, log);
  });

  after(async () => {
    await agent?.stop();
    await cloud?.close();
    lab.cleanup();
  });

  it('the guest takes its address and the metadata route from DHCP, then reads its user data and network_data.json', async () => {
    await waitFor('the port ACTIVE', async () => ((await api(admin, 'GET', `${cloud.urls.network}/v2.0/ports/${port.id}`)).body.port.status === 'ACTIVE' ? true : undefined), 30_000);
    const lease = lab.dhcp(guest);
    assert.equal(lease.ip, port.fixed_ips[0]!.ip_address);
    // Option 121 carries the route to the metadata address via the DHCP port (udhcpc: "dest/len gw" pairs).
    const routes = (lease.staticroutes ?? '').split(' ');
    const at = routes.indexOf('169.254.169.254/32');
    assert.ok(at >= 0, `option 121 has the metadata route: ${lease.staticroutes}`);
    sh(['ip', '-n', guest, 'route', 'add', '169.254.169.254/32', 'via', routes[at + 1]!]);
    // The proxy comes up with the DHCP namespace: the first requests may find it starting.
    const userData = await waitFor('the user data', async () => {
      try {
        return await wget('/openstack/latest/user_data');
      } catch {
        return undefined;
      }
    }, 20_000);
    assert.equal(userData, USER_DATA);
    const md = JSON.parse(await wget('/openstack/latest/meta_data.json')) as { uuid: string };
    assert.equal(md.uuid, serverId);
    const nd = JSON.parse(await wget('/openstack/latest/network_data.json')) as { links: Array<{ vif_id: string; ethernet_mac_address: string }>; networks: Array<{ type: string }> };
    assert.deepEqual(nd.links.map((l) => [l.vif_id, l.ethernet_mac_address]), [[port.id, port.mac_address]]);
    assert.deepEqual(nd.networks.map((n) => n.type), ['ipv4_dhcp']);
    assert.equal(await wget('/latest/meta-data/local-ipv4'), port.fixed_ips[0]!.ip_address);
  });
});
