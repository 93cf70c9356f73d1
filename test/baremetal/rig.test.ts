// The bare-metal rig by itself, driven only through real ipmitool against its ipmi_sim BMCs:
// boot device pxe + power on netboots the test guest (kernel and initramfs over HTTP from a
// server this test runs, chained from QEMU's TFTP by iPXE) to its boot marker; reset reboots it;
// power off stops it; boot device disk boots nothing (the machine's disk is empty); every
// chassis command is in the BMC's log; nothing is left running or on disk afterwards.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { createReadStream, existsSync, statSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { after, before, describe, it } from 'node:test';
import { promisify } from 'node:util';
import { BOOT_MARKER, buildTestImage, type TestImageFiles } from '../libvirt/support/test-image.js';
import { HOST_FROM_GUEST, rigSkip, startRig, type Rig, type RigMachine } from './support/rig.js';

const skip = rigSkip();
/** A TCG netboot takes ~20 s alone; other tests share the two cores. */
const BOOT_MS = 240_000;

async function ipmitool(m: RigMachine, ...args: string[]): Promise<string> {
  const d = m.driverInfo;
  const { stdout } = await promisify(execFile)('ipmitool', [
    '-I', 'lanplus', '-C', '3', '-H', d.ipmi_address, '-p', String(d.ipmi_port), '-U', d.ipmi_username, '-P', d.ipmi_password, ...args,
  ], { timeout: 30_000 });
  return stdout.trim();
}

describe('the bare-metal rig: QEMU machines behind ipmi_sim BMCs, netbooting by iPXE', { skip, timeout: 15 * 60_000 }, () => {
  let files: TestImageFiles;
  let http: Server;
  let rig: Rig;
  /** Paths the machines fetched from the test's HTTP server, in order. */
  const fetched: string[] = [];

  before(async () => {
    files = buildTestImage();
    let port = 0;
    http = createServer((req, res) => {
      const path = req.url ?? '/';
      fetched.push(path);
      const base = `http://${HOST_FROM_GUEST}:${port}`;
      if (path.startsWith('/boot/')) {
        res.end(`#!ipxe\nkernel ${base}/vmlinuz console=ttyS0 quiet\ninitrd ${base}/initramfs.img\nboot\n`);
        return;
      }
      const file = path === '/vmlinuz' ? files.kernel : path === '/initramfs.img' ? files.ramdisk : undefined;
      if (!file) {
        res.statusCode = 404;
        res.end();
        return;
      }
      res.setHeader('content-length', statSync(file).size);
      createReadStream(file).pipe(res);
    });
    await new Promise<void>((resolve) => http.listen(0, '127.0.0.1', resolve));
    port = (http.address() as AddressInfo).port;
    rig = await startRig({ machines: 1, bootUrl: `http://${HOST_FROM_GUEST}:${port}/boot/\${mac:hexhyp}` });
  });

  after(async () => {
    const dir = rig?.dir;
    await rig?.stop();
    await new Promise<void>((resolve) => (http ? http.close(() => resolve()) : resolve()));
    if (dir) assert.equal(existsSync(dir), false, 'the rig removed its files');
  });

  it('answers as a BMC: power status off, boot device pxe', async () => {
    const m = rig.machines[0]!;
    assert.equal(await ipmitool(m, 'chassis', 'power', 'status'), 'Chassis Power is off');
    assert.match(await ipmitool(m, 'chassis', 'bootdev', 'pxe'), /Set Boot Device to pxe/);
    assert.deepEqual(m.bmcCommands(), ['get power', 'get boot', 'set boot pxe']);
  });

  it('power on netboots the guest over TFTP + HTTP to its boot marker', async () => {
    const m = rig.machines[0]!;
    const t0 = Date.now();
    assert.match(await ipmitool(m, 'chassis', 'power', 'on'), /Up\/On/);
    assert.equal(await ipmitool(m, 'chassis', 'power', 'status'), 'Chassis Power is on');
    assert.ok(m.guestPid(), 'the guest runs');
    await m.waitForConsole(BOOT_MARKER, BOOT_MS);
    console.log(`# netboot: power on → ${BOOT_MARKER} in ${((Date.now() - t0) / 1000).toFixed(1)} s`);
    // iPXE asked for this machine's script by its MAC, then the kernel and the initramfs.
    assert.deepEqual(fetched, [`/boot/${m.mac.replaceAll(':', '-')}`, '/vmlinuz', '/initramfs.img']);
  });

  it('power reset reboots the same guest (a second boot marker)', async () => {
    const m = rig.machines[0]!;
    const pid = m.guestPid();
    const offset = m.console().lastIndexOf(BOOT_MARKER) + BOOT_MARKER.length;
    assert.match(await ipmitool(m, 'chassis', 'power', 'reset'), /Reset/);
    await m.waitForConsole(BOOT_MARKER, BOOT_MS, offset);
    assert.equal(m.guestPid(), pid, 'a reset keeps the QEMU process (a warm reset, not a restart)');
    assert.equal(fetched.filter((p) => p === '/vmlinuz').length, 2, 'the reset netbooted again');
  });

  it('power off stops the guest', async () => {
    const m = rig.machines[0]!;
    assert.ok(m.guestPid(), 'the guest runs');
    assert.match(await ipmitool(m, 'chassis', 'power', 'off'), /Down\/Off/);
    await m.waitForPowerOff(10_000);
    assert.equal(await ipmitool(m, 'chassis', 'power', 'status'), 'Chassis Power is off');
  });

  it('boot device disk boots nothing: the machine only runs what it netboots', async () => {
    const m = rig.machines[0]!;
    const before = fetched.length;
    const markers = m.console().split(BOOT_MARKER).length;
    assert.match(await ipmitool(m, 'chassis', 'bootdev', 'disk'), /Set Boot Device to disk/);
    await ipmitool(m, 'chassis', 'power', 'on');
    assert.ok(m.guestPid(), 'the guest runs');
    // SeaBIOS finds no boot sector on the empty disk; give it the time a netboot took to fetch.
    await new Promise((r) => setTimeout(r, 15_000));
    assert.equal(fetched.length, before, 'no netboot');
    assert.equal(m.console().split(BOOT_MARKER).length, markers, 'no new boot marker');
    await ipmitool(m, 'chassis', 'power', 'off');
    await m.waitForPowerOff(10_000);
  });

  it('the BMC logged every chassis command: the status reads, and each power and boot change in order', () => {
    const commands = rig.machines[0]!.bmcCommands();
    assert.ok(commands.includes('get power'), 'status reads are logged');
    assert.deepEqual(commands.filter((c) => c.startsWith('set ')), [
      'set boot pxe', 'set power 1', 'set reset 1', 'set power 0', 'set boot default', 'set power 1', 'set power 0',
    ]);
  });
});
