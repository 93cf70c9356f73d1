import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack'));

type Row = Record<string, unknown>;

describe('the openstack CLI drives routers and floating IPs of the all-in-one', { skip }, () => {
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    cloud = await startCloudProcess();
    env = cloud.openrc;
  });
  after(async () => {
    await cloud?.stop();
  });

  it('router create/set --external-gateway/add subnet, floating ip create/set --port/unset, and the teardown', async () => {
    await openstackOk(['network', 'create', '--external', '--provider-network-type', 'flat', '--provider-physical-network', 'external', 'public'], env);
    await openstackOk(['subnet', 'create', '--network', 'public', '--subnet-range', '172.24.4.0/24', '--no-dhcp', 'public-sub'], env);
    await openstackOk(['network', 'create', 'priv'], env);
    await openstackOk(['subnet', 'create', '--network', 'priv', '--subnet-range', '10.70.0.0/24', 'priv-sub'], env);
    const r = await openstackJson<Row>(['router', 'create', 'r1'], env);
    assert.equal(r.name, 'r1');
    assert.equal(r.status, 'ACTIVE');
    await openstackOk(['router', 'set', '--external-gateway', 'public', 'r1'], env);
    await openstackOk(['router', 'add', 'subnet', 'r1', 'priv-sub'], env);
    const shown = await openstackJson<Row>(['router', 'show', 'r1'], env);
    const gw = shown.external_gateway_info as { network_id: string; enable_snat: boolean; external_fixed_ips: Array<{ ip_address: string }> };
    assert.equal(gw.enable_snat, true);
    assert.match(gw.external_fixed_ips[0]!.ip_address, /^172\.24\.4\.\d+$/);
    const port = await openstackJson<Row>(['port', 'create', '--network', 'priv', 'vm-port'], env);
    const fip = await openstackJson<Row>(['floating', 'ip', 'create', 'public'], env);
    assert.match(String(fip.floating_ip_address), /^172\.24\.4\.\d+$/);
    assert.equal(fip.status, 'DOWN');
    await openstackOk(['floating', 'ip', 'set', '--port', String(port.id), String(fip.id)], env);
    const assoc = await openstackJson<Row>(['floating', 'ip', 'show', String(fip.id)], env);
    assert.equal(assoc.port_id, port.id);
    assert.equal(assoc.router_id, r.id);
    assert.equal(assoc.status, 'ACTIVE');
    const list = await openstackJson<Row[]>(['floating', 'ip', 'list'], env);
    assert.ok(list.some((f) => f.ID === fip.id && f.Port === port.id), JSON.stringify(list));
    await openstackOk(['floating', 'ip', 'unset', '--port', String(fip.id)], env);
    assert.equal((await openstackJson<Row>(['floating', 'ip', 'show', String(fip.id)], env)).port_id, null);
    await openstackOk(['floating', 'ip', 'delete', String(fip.id)], env);
    await openstackOk(['router', 'remove', 'subnet', 'r1', 'priv-sub'], env);
    await openstackOk(['router', 'unset', '--external-gateway', 'r1'], env);
    await openstackOk(['router', 'delete', 'r1'], env);
    const routers = await openstackJson<Row[]>(['router', 'list'], env);
    assert.ok(!routers.some((x) => x.Name === 'r1'));
  });
});
