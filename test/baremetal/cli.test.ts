// Debian's python3-ironicclient (`openstack baremetal …`) against the all-in-one's Bare Metal
// API: it negotiates the microversion, enrols, lists, shows, manages, provides, powers and
// deletes fake-hardware and ipmi nodes, and never prints a BMC password.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readOpenrc } from '../../harness/openrc.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { startTestCloud, waitFor, type TestCloud } from '../support/cloud.js';
import { openstack, openstackJson, openstackOk } from '../support/openstack-cli.js';

const skip = backendSkip('the openstack baremetal CLI (python3-ironicclient)', commandExists('openstack') && commandExists('/usr/bin/python3')
  && (await openstack(['baremetal', '--help'], {})).code === 0);

describe('openstack baremetal', { skip }, () => {
  let cloud: TestCloud;
  let env: Record<string, string>;
  const show = (node: string) => openstackJson<Record<string, unknown>>(['baremetal', 'node', 'show', node], env);
  const settle = (node: string, want: string) => waitFor(`${node} ${want}`, async () => {
    const n = await show(node);
    return n.provision_state === want && n.target_provision_state === null ? n : undefined;
  });

  before(async () => {
    cloud = await startTestCloud();
    env = readOpenrc(cloud.openrcPath);
  });
  after(async () => cloud?.close());

  it('node create/list/show/manage/provide/power on|off/delete on fake hardware', async () => {
    const created = await openstackJson<Record<string, unknown>>(
      ['baremetal', 'node', 'create', '--driver', 'fake-hardware', '--name', 'cli-fake', '--resource-class', 'baremetal',
        '--property', 'cpus=2', '--property', 'memory_mb=1024'], env);
    assert.equal(created.provision_state, 'enroll');
    assert.deepEqual(created.properties, { cpus: 2, memory_mb: 1024 });
    const list = await openstackJson<Array<Record<string, unknown>>>(['baremetal', 'node', 'list'], env);
    assert.deepEqual(list.map((n) => [n.Name, n['Provisioning State']]), [['cli-fake', 'enroll']]);
    await openstackOk(['baremetal', 'node', 'manage', 'cli-fake'], env);
    await settle('cli-fake', 'manageable');
    await openstackOk(['baremetal', 'node', 'provide', 'cli-fake'], env);
    await settle('cli-fake', 'available');
    await openstackOk(['baremetal', 'node', 'power', 'on', 'cli-fake'], env);
    await waitFor('power on', async () => ((await show('cli-fake')).power_state === 'power on' ? true : undefined));
    await openstackOk(['baremetal', 'node', 'power', 'off', 'cli-fake'], env);
    await waitFor('power off', async () => ((await show('cli-fake')).power_state === 'power off' ? true : undefined));
    // Ironic refuses to delete an available node; managed back, it may go.
    const refused = await openstack(['baremetal', 'node', 'delete', 'cli-fake'], env);
    assert.notEqual(refused.code, 0);
    assert.match(refused.stderr, /while it is in provision state "available"/);
    await openstackOk(['baremetal', 'node', 'manage', 'cli-fake'], env);
    await settle('cli-fake', 'manageable');
    await openstackOk(['baremetal', 'node', 'delete', 'cli-fake'], env);
    assert.deepEqual(await openstackJson(['baremetal', 'node', 'list'], env), []);
  });

  it('an ipmi node: driver_info secrets masked, ports, and a refused transition in Ironic\'s words', async () => {
    await openstackOk(['baremetal', 'node', 'create', '--driver', 'ipmi', '--name', 'cli-ipmi',
      '--driver-info', 'ipmi_address=127.0.0.1', '--driver-info', 'ipmi_port=6299', '--driver-info', 'ipmi_username=admin',
      '--driver-info', 'ipmi_password=cli-s3cret'], env);
    const shown = await openstackOk(['baremetal', 'node', 'show', 'cli-ipmi', '-f', 'json'], env);
    assert.ok(!shown.includes('cli-s3cret'));
    assert.equal((JSON.parse(shown) as { driver_info: Record<string, string> }).driver_info.ipmi_password, '******');
    const long = await openstackOk(['baremetal', 'node', 'list', '--long', '-f', 'json'], env);
    assert.ok(!long.includes('cli-s3cret'));
    // --node takes the node's UUID (Ironic's node_uuid).
    await openstackOk(['baremetal', 'port', 'create', '--node', String(JSON.parse(shown).uuid), '52:54:00:12:34:56'], env);
    const ports = await openstackJson<Array<Record<string, unknown>>>(['baremetal', 'port', 'list', '--node', 'cli-ipmi'], env);
    assert.deepEqual(ports.map((p) => p.Address), ['52:54:00:12:34:56']);
    const bad = await openstack(['baremetal', 'node', 'provide', 'cli-ipmi'], env);
    assert.notEqual(bad.code, 0);
    assert.match(bad.stderr, /The requested action "provide" can not be performed on node "[0-9a-f-]+" while it is in state "enroll"/);
    const drivers = await openstackJson<Array<Record<string, unknown>>>(['baremetal', 'driver', 'list'], env);
    assert.deepEqual(drivers.map((d) => d['Supported driver(s)']).sort(), ['fake-hardware', 'ipmi']);
    await openstackOk(['baremetal', 'node', 'delete', 'cli-ipmi'], env);
    assert.deepEqual(await openstackJson(['baremetal', 'port', 'list'], env), []);
  });
});
