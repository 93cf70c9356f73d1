import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { cliEnv } from '../support/openstack-cli.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

describe('the openstack CLI drives the Network v2 API of the all-in-one', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
  });

  it('network create, subnet create --subnet-range, port create, security group rule create, network list', async () => {
    const net = await openstackJson<Row>(['network', 'create', 'cli-net'], env);
    assert.equal(net.name, 'cli-net');
    assert.equal(net.mtu, 1450);
    assert.equal(net.status, 'ACTIVE');
    const sub = await openstackJson<Row>(['subnet', 'create', '--network', 'cli-net', '--subnet-range', '10.50.0.0/24', '--dns-nameserver', '10.50.0.250', 'cli-sub'], env);
    assert.equal(sub.cidr, '10.50.0.0/24');
    assert.equal(sub.gateway_ip, '10.50.0.1');
    assert.equal(sub.enable_dhcp, true);
    const port = await openstackJson<Row>(['port', 'create', '--network', 'cli-net', 'cli-port'], env);
    assert.match(String(port.mac_address), /^fa:16:3e:/);
    const ips = port.fixed_ips as Array<{ subnet_id: string; ip_address: string }>;
    assert.equal(ips[0]!.subnet_id, sub.id);
    assert.match(ips[0]!.ip_address, /^10\.50\.0\.\d+$/);
    const fixed = await openstackJson<Row>(['port', 'create', '--network', 'cli-net', '--fixed-ip', 'subnet=cli-sub,ip-address=10.50.0.99', 'cli-port2'], env);
    assert.equal((fixed.fixed_ips as Array<{ ip_address: string }>)[0]!.ip_address, '10.50.0.99');
    const rule = await openstackJson<Row>(['security', 'group', 'rule', 'create', '--protocol', 'tcp', '--dst-port', '22', '--remote-ip', '0.0.0.0/0', 'default'], env);
    assert.equal(rule.port_range_min, 22);
    assert.equal(rule.protocol, 'tcp');
    const rules = await openstackJson<Row[]>(['security', 'group', 'rule', 'list', 'default'], env);
    assert.equal(rules.length, 5);
    const nets = await openstackJson<Row[]>(['network', 'list'], env);
    const row = nets.find((n) => n.Name === 'cli-net');
    assert.ok(row, JSON.stringify(nets));
    assert.deepEqual(row.Subnets, [sub.id]);
    const ports = await openstackJson<Row[]>(['port', 'list', '--network', 'cli-net'], env);
    assert.deepEqual(ports.map((p) => p.Name).sort(), ['cli-port', 'cli-port2']);
    const exts = await openstackJson<Row[]>(['extension', 'list', '--network'], env);
    assert.ok(exts.some((e) => e.Alias === 'security-group'));
    // Deletes in order; the network goes once its ports and subnet are gone.
    await openstackOk(['port', 'delete', 'cli-port', 'cli-port2'], env);
    await openstackOk(['subnet', 'delete', 'cli-sub'], env);
    await openstackOk(['network', 'delete', 'cli-net'], env);
    const after = await openstackJson<Row[]>(['network', 'list'], env);
    assert.ok(!after.some((n) => n.Name === 'cli-net'));
  });

  it('openstacksdk: networks, subnets, ports (filters, paging), security groups, quotas, extensions', async () => {
    // Debian's openstacksdk is installed for Debian's python (a python3 earlier on PATH may lack it).
    const out = await new Promise<string>((resolve, reject) => {
      execFile('/usr/bin/python3', [new URL('./sdk/network_sdk.py', import.meta.url).pathname], { env: cliEnv(env), timeout: 120_000 }, (err, stdout, stderr) =>
        (err ? reject(new Error(`${String(err)}\n${stderr}`)) : resolve(stdout)));
    });
    const seen = JSON.parse(out.trim().split('\n').at(-1)!);
    assert.deepEqual(seen, {
      subnet_pools: [{ start: '10.70.0.2', end: '10.70.0.254' }], ports_listed: 5, paged: 5, by_ip: ['sdk-p0'], network_by_name: true,
      // The default group's four rules and the CLI test's SSH rule.
      default_rules: 5, rule_protocol: 'icmp', quota_port: { limit: 500, used: 5, reserved: 0 }, has_extension_sg: true, renamed: 'renamed',
      network_gone: true,
    });
  });
});
