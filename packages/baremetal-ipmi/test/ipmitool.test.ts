import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { BmcAuthFailed, BmcRefused, BmcTimeout, BmcUnreachable, FakePower, IpmitoolPower } from '@orrery/baremetal-ipmi';
import { BMC_PASSWORD, BMC_READONLY_USER, BMC_USER, ipmiSimSkip, SimBmc } from './support/ipmi-sim.js';

describe('IpmitoolPower against ipmi_sim', { skip: ipmiSimSkip() }, () => {
  let bmc: SimBmc;
  const power = (over: { username?: string; password?: string; privilege?: 'USER' } = {}) => new IpmitoolPower({
    address: '127.0.0.1', port: bmc.port, username: over.username ?? BMC_USER, password: over.password ?? BMC_PASSWORD, ...(over.privilege ? { privilege: over.privilege } : {}),
  }, { attempts: 1, retransmits: 1 });

  before(async () => { bmc = await SimBmc.start(); });
  after(async () => { await bmc?.stop(); });

  it('reads and sets power; reboot is a reset, soft off an ACPI shutdown', async () => {
    const p = power();
    assert.equal(await p.getPower(), 'power off');
    await p.setPower('on');
    assert.equal(await p.getPower(), 'power on');
    assert.equal(bmc.powered(), true);
    await p.setPower('reboot');
    await p.setPower('soft off');
    assert.equal(await p.getPower(), 'power off');
    await p.setPower('on');
    await p.setPower('off');
    assert.equal(bmc.powered(), false);
    assert.deepEqual(bmc.log(), ['set power 1', 'set reset 1', 'set shutdown 1', 'set power 1', 'set power 0']);
  });

  it('sets the boot device (disk is the BIOS default)', async () => {
    const p = power();
    await p.setBootDevice('pxe', false);
    assert.equal(bmc.bootDevice(), 'pxe');
    await p.setBootDevice('disk', true);
    assert.equal(bmc.bootDevice(), 'default');
  });

  it('a wrong password or an unknown user is BmcAuthFailed, and the error names no password', async () => {
    const err = await power({ password: 'wrong-secret-xyz' }).getPower().catch((e: unknown) => e);
    assert.ok(err instanceof BmcAuthFailed, String(err));
    assert.equal(err.kind, 'auth_failed');
    assert.doesNotMatch(err.message, /wrong-secret-xyz|sim-password/);
    await assert.rejects(power({ username: 'nobody' }).getPower(), BmcAuthFailed);
  });

  it('a command beyond the user\'s privilege is BmcRefused', async () => {
    const p = power({ username: BMC_READONLY_USER, privilege: 'USER' });
    await assert.rejects(p.setPower('on'), BmcRefused);
  });

  it('a BMC that stops answering is BmcUnreachable, and answers again once back', async () => {
    await bmc.kill();
    const err = await power().getPower().catch((e: unknown) => e);
    assert.ok(err instanceof BmcUnreachable, String(err));
    await bmc.resume();
    assert.equal(await power().getPower(), 'power off');
  });
});

describe('IpmitoolPower deadline', () => {
  it('an ipmitool run past its deadline is killed: BmcTimeout', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-ipmitool-'));
    try {
      const slow = join(dir, 'ipmitool');
      writeFileSync(slow, '#!/bin/sh\nexec sleep 30\n');
      chmodSync(slow, 0o755);
      const p = new IpmitoolPower({ address: '127.0.0.1', port: 1, username: 'u', password: 'p' }, { command: slow, timeoutMs: 300, attempts: 2 });
      const err = await p.getPower().catch((e: unknown) => e);
      assert.ok(err instanceof BmcTimeout, String(err));
      assert.match(err.message, /300 ms/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('FakePower', () => {
  it('is what was last set, from the recorded state', async () => {
    const p = new FakePower('power on');
    assert.equal(await p.getPower(), 'power on');
    await p.setPower('soft off');
    assert.equal(await p.getPower(), 'power off');
    await p.setPower('reboot');
    assert.equal(await p.getPower(), 'power on');
    await p.setBootDevice('pxe', false);
    assert.equal(p.bootDevice, 'pxe');
  });
});
