// Bare metal end to end with real machines: three QEMU guests behind ipmi_sim BMCs (the rig),
// enrolled as `ipmi` nodes with the real `openstack baremetal` CLI (ironicclient), managed and
// provided (cleaning runs: powered off over IPMI), then three `openstack server create --flavor
// baremetal` deploy them by PXE: each machine netboots the instance image's kernel and
// initramfs from the conductor's boot server (its disk is empty) and prints the image's boot
// marker. A fourth finds no valid host; `server reboot --hard` power-cycles exactly the machine
// of that server (its BMC log says so and it boots again); `server delete` cleans the node back
// to available with its machine off.
import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { readOpenrc } from '../../harness/openrc.js';
import { freePort } from '../../harness/ports.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { startTestCloud, waitFor, type TestCloud } from '../support/cloud.js';
import { openstack, openstackJson, openstackOk } from '../support/openstack-cli.js';
import { BOOT_MARKER, uploadTestImage } from '../libvirt/support/test-image.js';
import { HOST_FROM_GUEST, rigSkip, startRig, type Rig, type RigMachine } from './support/rig.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient, python3-ironicclient)', commandExists('openstack')) || rigSkip();
/** Three TCG netboots at once on two shared cores took 35-52 s (one alone: 16.5-19 s). */
const BOOT_MS = 300_000;

type Row = Record<string, unknown>;

describe('bare metal end to end: three BMC-backed QEMU machines deployed by PXE through the openstack CLI', { skip, timeout: 20 * 60_000 }, () => {
  let cloud: TestCloud;
  let rig: Rig;
  let env: Record<string, string>;
  const servers = new Map<string, string>(); // server name → id
  const node = (m: RigMachine) => openstackJson<Row>(['baremetal', 'node', 'show', m.name], env);
  const settled = (m: RigMachine, want: string, ms = 120_000) => waitFor(`${m.name} ${want}`, async () => {
    const n = await node(m);
    return n.provision_state === want && n.target_provision_state === null ? n : undefined;
  }, ms);
  const server = (name: string) => openstackJson<Row>(['--os-compute-api-version', '2.37', 'server', 'show', servers.get(name) ?? name], env);
  const machineOf = async (name: string): Promise<RigMachine> => {
    const uuid = String((await server(name))['OS-EXT-SRV-ATTR:hypervisor_hostname']);
    const n = await openstackJson<Row>(['baremetal', 'node', 'show', uuid], env);
    return rig.machines.find((m) => m.name === n.name)!;
  };

  before(async () => {
    // The driver's [ironic] section names Keystone, and the rig's iPXE scripts the boot server, before the cloud starts.
    const identityPort = await freePort();
    const bootPort = await freePort();
    // ${mac:hexhyp}, not ${mac}: iPXE percent-encodes the colons of ${mac} in a URL path.
    rig = await startRig({ machines: 3, bootUrl: `http://${HOST_FROM_GUEST}:${bootPort}/ipxe/\${mac:hexhyp}` });
    cloud = await startTestCloud({
      api: { identity_port: String(identityPort) },
      DEFAULT: { compute_driver: 'ironic', compute_hosts: 'bm-compute1' },
      ironic: { auth_url: `http://127.0.0.1:${identityPort}/v3`, username: 'admin', password: 'secret', project_name: 'admin', image_formats: 'ami', poll_interval: '1' },
      baremetal: { http_port: String(bootPort), sync_power_state_interval: '5' },
    });
    env = readOpenrc(cloud.openrcPath);
  });

  after(async () => {
    await cloud?.close();
    await rig?.stop();
  });

  it('enrolls the machines as ipmi nodes, manages and provides them (cleaning powers them off)', async () => {
    for (const m of rig.machines) {
      const d = m.driverInfo;
      await openstackOk(['baremetal', 'node', 'create', '--driver', 'ipmi', '--name', m.name, '--resource-class', 'baremetal',
        '--driver-info', `ipmi_address=${d.ipmi_address}`, '--driver-info', `ipmi_port=${d.ipmi_port}`,
        '--driver-info', `ipmi_username=${d.ipmi_username}`, '--driver-info', `ipmi_password=${d.ipmi_password}`,
        '--property', 'cpus=1', '--property', 'memory_mb=256', '--property', 'local_gb=1', '--property', 'cpu_arch=x86_64'], env);
      await openstackOk(['baremetal', 'port', 'create', '--node', String((await node(m)).uuid), m.mac], env);
      await openstackOk(['baremetal', 'node', 'manage', m.name], env);
    }
    for (const m of rig.machines) {
      await settled(m, 'manageable');
      await openstackOk(['baremetal', 'node', 'provide', m.name], env);
    }
    for (const m of rig.machines) {
      const n = await settled(m, 'available');
      assert.equal(n.power_state, 'power off');
      assert.equal((n.driver_info as Row).ipmi_password, '******');
      assert.equal(m.guestPid(), undefined, `${m.name} is off`);
      assert.ok(m.bmcCommands().includes('get power'), `${m.name}'s BMC was asked its power state`);
    }
  });

  it('three server creates with the baremetal flavor netboot the three machines to the image\'s boot marker', async () => {
    await openstackOk(['flavor', 'create', '--ram', '256', '--vcpus', '1', '--disk', '1', 'baremetal'], env);
    await openstackOk(['flavor', 'set', 'baremetal', '--property', 'resources:CUSTOM_BAREMETAL=1', '--property', 'resources:VCPU=0',
      '--property', 'resources:MEMORY_MB=0', '--property', 'resources:DISK_GB=0'], env);
    const image = await uploadTestImage(env, 'bm-guest', 'console=ttyS0 quiet');
    await waitFor('three bare-metal hypervisors', async () => {
      const list = await openstackJson<Row[]>(['hypervisor', 'list'], env);
      return list.filter((h) => h['Hypervisor Type'] === 'ironic').length === 3 ? true : undefined;
    }, 60_000);
    const t0 = Date.now();
    const created = await Promise.all(['bm1', 'bm2', 'bm3'].map((name) => openstackJson<Row>(
      ['server', 'create', '--flavor', 'baremetal', '--image', image.imageId, '--nic', 'none', '--wait', name], env)));
    for (const s of created) {
      assert.equal(s.status, 'ACTIVE', JSON.stringify(s.fault));
      servers.set(String(s.name), String(s.id));
    }
    const machines = await Promise.all(['bm1', 'bm2', 'bm3'].map(machineOf));
    assert.deepEqual(machines.map((m) => m.name).sort(), ['bm-0', 'bm-1', 'bm-2'], 'one machine per server');
    await Promise.all(machines.map((m) => m.waitForConsole(BOOT_MARKER, BOOT_MS)));
    console.log(`# three deploys: server create → three boot markers in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    for (const [i, m] of machines.entries()) {
      const n = await node(m);
      assert.deepEqual([n.provision_state, n.power_state, n.instance_uuid], ['active', 'power on', servers.get(`bm${i + 1}`)]);
      assert.ok(m.guestPid(), `${m.name} runs`);
      assert.ok(m.bmcCommands().includes('set boot pxe'), `${m.name} was set to netboot`);
    }
  });

  it('a fourth server finds no valid host', async () => {
    // The CLI's --wait ends with "Error creating server" but exit status 0 (python-openstackclient 6.0): the status tells.
    const r = await openstack(['server', 'create', '--flavor', 'baremetal', '--image', 'bm-guest', '--nic', 'none', '--wait', 'bm4'], env);
    assert.match(r.stdout + r.stderr, /Error creating server/);
    const s = await openstackJson<Row>(['server', 'show', 'bm4'], env);
    assert.equal(s.status, 'ERROR');
    assert.match(JSON.stringify(s.fault), /No valid host/);
    await openstackOk(['server', 'delete', '--wait', 'bm4'], env);
  });

  it('server reboot --hard power-cycles that server\'s machine and only it', async () => {
    const target = await machineOf('bm2');
    const others = rig.machines.filter((m) => m !== target);
    const before = new Map(rig.machines.map((m) => [m.name, m.bmcCommands().length]));
    const consoleAt = target.console().length;
    await openstackOk(['server', 'reboot', '--hard', '--wait', 'bm2'], env);
    await target.waitForConsole(BOOT_MARKER, BOOT_MS, consoleAt);
    const since = target.bmcCommands().slice(before.get(target.name));
    assert.ok((since.includes('set power 0') && since.includes('set power 1')) || since.includes('set reset 1'), `a power cycle in ${JSON.stringify(since)}`);
    for (const m of others) {
      assert.deepEqual(m.bmcCommands().slice(before.get(m.name)).filter((c) => c.startsWith('set ')), [], `${m.name} was left alone`);
    }
    assert.equal((await server('bm2')).status, 'ACTIVE');
  });

  it('server delete cleans the node back to available with its machine powered off', async () => {
    const m = await machineOf('bm1');
    await openstackOk(['server', 'delete', '--wait', 'bm1'], env);
    const n = await settled(m, 'available');
    assert.deepEqual([n.power_state, n.instance_uuid], ['power off', null]);
    await m.waitForPowerOff(30_000);
    for (const name of ['bm2', 'bm3']) await openstackOk(['server', 'delete', '--wait', name], env);
    for (const mm of rig.machines) {
      await settled(mm, 'available');
      await mm.waitForPowerOff(30_000);
    }
  });
});
