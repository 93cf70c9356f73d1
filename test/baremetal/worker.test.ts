import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { freePort } from '../../harness/ports.js';
import { listNodeHistory } from '../../src/db/baremetal-history.js';
import { getNode, insertNode, updateNode, updateNodeIf, type BmNodeRow } from '../../src/db/baremetal-nodes.js';
import { insertPort } from '../../src/db/baremetal-ports.js';
import { sealDriverInfo } from '../../src/baremetal/driver-info.js';
import { startOf, type ProvisionAction } from '../../src/baremetal/states.js';
import { CredentialKeys } from '../../src/identity/credential-keys.js';
import { BaremetalRpcApi } from '../../src/rpc/baremetal-api.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { netboot, uploadNetbootImage } from './support/netboot.js';
import { BMC_PASSWORD, BMC_USER, ipmiSimSkip, SimBmc } from '../../packages/baremetal-ipmi/test/support/ipmi-sim.js';

/**
 * The Bare Metal worker inside the all-in-one's conductor, driven as the API drives it: the
 * transition validated and the node moved into its working state, then the cast.
 */

const ctx = systemContext();

function nodeRow(over: Partial<BmNodeRow>): BmNodeRow {
  return {
    uuid: randomUUID(), name: null, driver: 'fake-hardware', driver_info: '{}', driver_secrets: null, driver_secrets_key: null,
    properties: '{}', extra: '{}', resource_class: 'baremetal', provision_state: 'enroll', target_provision_state: null,
    provision_updated_at: null, power_state: null, target_power_state: null, maintenance: 0, maintenance_reason: null,
    last_error: null, instance_uuid: null, instance_info: '{}', boot_device: null, boot_device_persistent: 0,
    reservation: null, reservation_expires_at: null, created_at: new Date().toISOString(), updated_at: null, ...over,
  };
}

describe('bare metal worker', () => {
  let cloud: TestCloud;
  let rpc: BaremetalRpcApi;
  let bootPort: number;

  before(async () => {
    bootPort = await freePort();
    cloud = await startTestCloud({
      baremetal: { http_port: String(bootPort), reservation_ttl: '2', sync_power_state_interval: '1', ipmi_attempts: '1', ipmi_timeout: '5' },
    });
    rpc = new BaremetalRpcApi(cloud.bus, 5000);
  });
  after(async () => { await cloud?.close(); });

  const node = async (uuid: string): Promise<BmNodeRow> => (await getNode(cloud.db, uuid))!;

  /** What the API does for a provision verb: the compare-and-set into the working state, then the cast. */
  async function act(uuid: string, action: ProvisionAction): Promise<void> {
    const n = await node(uuid);
    const start = startOf(n.provision_state, action);
    assert.ok(start, `${n.provision_state} has no ${action}`);
    assert.ok(await updateNodeIf(cloud.db, uuid, { provision_state: n.provision_state },
      { provision_state: start.to, target_provision_state: start.target, provision_updated_at: new Date().toISOString() }));
    await rpc.doProvisioningAction(ctx, uuid, action);
  }

  /** Waits until the node rests in `state` with its lock given back. */
  const settled = (uuid: string, state: string, timeoutMs = 30_000) => waitFor(`node ${uuid} ${state}`, async () => {
    const n = await node(uuid);
    return n.provision_state === state && n.target_provision_state === null && n.reservation === null ? n : undefined;
  }, timeoutMs);

  const powered = (uuid: string, state: string) => waitFor(`node ${uuid} ${state}`, async () => {
    const n = await node(uuid);
    return n.power_state === state && n.target_power_state === null ? n : undefined;
  });

  async function power(uuid: string, target: 'power on' | 'power off' | 'rebooting'): Promise<void> {
    await updateNode(cloud.db, uuid, { target_power_state: target });
    await rpc.changePowerState(ctx, uuid, target);
  }

  it('fake hardware: manage, provide, power, deploy and undeploy end in their final states, every step in the history', async () => {
    const n = nodeRow({ name: 'fake-1' });
    await insertNode(cloud.db, n);
    await act(n.uuid, 'manage');
    assert.equal((await settled(n.uuid, 'manageable')).power_state, 'power off');
    await act(n.uuid, 'provide');
    await settled(n.uuid, 'available');
    await power(n.uuid, 'power on');
    await powered(n.uuid, 'power on');
    await power(n.uuid, 'power off');
    await powered(n.uuid, 'power off');
    const instance = randomUUID();
    await updateNode(cloud.db, n.uuid, { instance_uuid: instance, instance_info: JSON.stringify({ image_source: randomUUID() }) });
    await act(n.uuid, 'deploy');
    const active = await settled(n.uuid, 'active');
    assert.equal(active.power_state, 'power on');
    assert.equal(active.instance_uuid, instance);
    await act(n.uuid, 'deleted');
    const back = await settled(n.uuid, 'available');
    assert.equal(back.power_state, 'power off');
    assert.equal(back.instance_uuid, null);
    assert.equal(back.last_error, null);
    const transitions = (await listNodeHistory(cloud.db, n.uuid, 100)).filter((h) => h.event === 'provision state').map((h) => h.message);
    assert.deepEqual(transitions, [
      'verifying -> manageable', 'cleaning -> available', 'deploying -> active', 'deleting -> cleaning', 'cleaning -> available',
    ]);
  });

  it('a node whose conductor was killed mid-deploy is taken over once its lock expired: deploy failed, and it can be reused', async () => {
    const long = new Date(Date.now() - 60_000).toISOString();
    const n = nodeRow({
      provision_state: 'deploying', target_provision_state: 'active', reservation: 'killed-conductor', reservation_expires_at: long,
      provision_updated_at: long, updated_at: long, power_state: 'power off',
    });
    await insertNode(cloud.db, n);
    const failed = await settled(n.uuid, 'deploy failed');
    assert.match(failed.last_error ?? '', /killed-conductor/);
    await act(n.uuid, 'deleted');
    await settled(n.uuid, 'available');
  });

  describe('ipmi hardware through ipmi_sim', { skip: ipmiSimSkip() }, () => {
    let bmc: SimBmc;
    let admin: Session;
    const mac = '52:54:00:12:34:56';
    let kernelBytes: Buffer;
    let imageId: string;
    let n: BmNodeRow;

    before(async () => {
      bmc = await SimBmc.start();
      admin = await login(cloud, 'admin', 'secret', 'admin');
      ({ imageId, kernelBytes } = await uploadNetbootImage(cloud.urls.image, admin));
      const keys = CredentialKeys.fromConfig(cloud.config);
      const uuid = randomUUID();
      const info = { ipmi_address: bmc.address, ipmi_port: bmc.port, ipmi_username: BMC_USER, ipmi_password: BMC_PASSWORD };
      n = nodeRow({ uuid, driver: 'ipmi', ...sealDriverInfo(keys, uuid, info) });
      await insertNode(cloud.db, n);
      await insertPort(cloud.db, { uuid: randomUUID(), node_uuid: uuid, address: mac, pxe_enabled: 1, extra: '{}', created_at: new Date().toISOString(), updated_at: null });
    });
    after(async () => { await bmc?.stop(); });

    const boot = (): Promise<string> => netboot(`http://127.0.0.1:${bootPort}`, mac, kernelBytes);

    it('stores no password in the row; manage reads the power through the BMC; power and boot device go to it', async () => {
      const row = await node(n.uuid);
      assert.doesNotMatch(`${row.driver_info} ${row.driver_secrets}`, new RegExp(BMC_PASSWORD));
      await act(n.uuid, 'manage');
      assert.equal((await settled(n.uuid, 'manageable')).power_state, 'power off');
      await act(n.uuid, 'provide');
      await settled(n.uuid, 'available');
      await power(n.uuid, 'power on');
      await powered(n.uuid, 'power on');
      assert.equal(bmc.powered(), true);
      await power(n.uuid, 'rebooting');
      await waitFor('reboot', async () => (bmc.log().slice(-2).join(',') === 'set power 0,set power 1' && (await node(n.uuid)).target_power_state === null) || undefined);
      await power(n.uuid, 'power off');
      await powered(n.uuid, 'power off');
      assert.equal(bmc.powered(), false);
      await rpc.setBootDevice(ctx, n.uuid, 'pxe', false);
      await waitFor('boot device', async () => ((await node(n.uuid)).boot_device === 'pxe') || undefined);
      assert.equal(bmc.bootDevice(), 'pxe');
    });

    it('the power sync records a change made behind the service\'s back', async () => {
      execFileSync('ipmitool', ['-I', 'lanplus', '-C', '3', '-H', bmc.address, '-p', String(bmc.port), '-U', BMC_USER, '-E', 'chassis', 'power', 'on'],
        { env: { ...process.env, IPMI_PASSWORD: BMC_PASSWORD } });
      await powered(n.uuid, 'power on');
      const history = await listNodeHistory(cloud.db, n.uuid, 200);
      assert.ok(history.some((h) => h.event === 'power sync' && /the BMC says power on/.test(h.message)));
      await power(n.uuid, 'power off');
      await powered(n.uuid, 'power off');
    });

    it('deploys by PXE: boot files, boot device pxe, power cycle; active once the machine fetched its kernel and ramdisk; undeploy cleans', async () => {
      await updateNode(cloud.db, n.uuid, { instance_uuid: randomUUID(), instance_info: JSON.stringify({ image_source: imageId }) });
      await act(n.uuid, 'deploy');
      await waitFor('wait call-back', async () => ((await node(n.uuid)).provision_state === 'wait call-back') || undefined);
      const script = await boot();
      assert.match(script, /console=ttyS0 orrery\.test/);
      const active = await settled(n.uuid, 'active');
      assert.equal(active.boot_device, 'pxe');
      assert.equal(bmc.powered(), true);
      assert.equal(bmc.bootDevice(), 'pxe');
      assert.ok(existsSync(join(cloud.config.str('baremetal', 'http_root'), n.uuid, 'kernel')));
      await act(n.uuid, 'deleted');
      const clean = await settled(n.uuid, 'available');
      assert.equal(clean.instance_uuid, null);
      assert.equal(bmc.powered(), false);
      assert.equal((await fetch(`http://127.0.0.1:${bootPort}/ipxe/${mac}`)).status, 404);
      assert.equal(existsSync(join(cloud.config.str('baremetal', 'http_root'), n.uuid)), false);
    });

    it('a BMC that stops answering mid-deploy: deploy failed with last_error, no boot files left; cleaned, the node deploys again', async () => {
      await updateNode(cloud.db, n.uuid, { instance_uuid: randomUUID(), instance_info: JSON.stringify({ image_source: imageId }) });
      await act(n.uuid, 'deploy');
      await waitFor('wait call-back', async () => ((await node(n.uuid)).provision_state === 'wait call-back') || undefined);
      await bmc.kill();
      const failed = await settled(n.uuid, 'deploy failed', 60_000);
      assert.match(failed.last_error ?? '', /deploy failed: .*BMC 127\.0\.0\.1/);
      assert.doesNotMatch(failed.last_error ?? '', new RegExp(BMC_PASSWORD));
      assert.equal(existsSync(join(cloud.config.str('baremetal', 'http_root'), n.uuid)), false);
      const errors = (await listNodeHistory(cloud.db, n.uuid, 500)).filter((h) => h.severity === 'ERROR');
      assert.ok(errors.some((h) => /wait call-back -> deploy failed/.test(h.message)));

      await bmc.resume();
      await act(n.uuid, 'deleted');
      await settled(n.uuid, 'available');
      await updateNode(cloud.db, n.uuid, { instance_uuid: randomUUID(), instance_info: JSON.stringify({ image_source: imageId }) });
      await act(n.uuid, 'deploy');
      await waitFor('wait call-back', async () => ((await node(n.uuid)).provision_state === 'wait call-back') || undefined);
      await boot();
      assert.equal((await settled(n.uuid, 'active')).last_error, null);
    });

    it('a deploy that cannot start (no port to find the machine by) fails before any boot file or boot device is set; the machine is left off', async () => {
      const keys = CredentialKeys.fromConfig(cloud.config);
      const uuid = randomUUID();
      const info = { ipmi_address: bmc.address, ipmi_port: bmc.port, ipmi_username: BMC_USER, ipmi_password: BMC_PASSWORD };
      await insertNode(cloud.db, nodeRow({ uuid, driver: 'ipmi', provision_state: 'available', instance_info: JSON.stringify({ image_source: imageId }), ...sealDriverInfo(keys, uuid, info) }));
      const before = bmc.log().length;
      await act(uuid, 'deploy');
      const failed = await settled(uuid, 'deploy failed');
      assert.match(failed.last_error ?? '', /no port/);
      assert.deepEqual(bmc.log().slice(before), ['set power 0']);
    });
  });
});
