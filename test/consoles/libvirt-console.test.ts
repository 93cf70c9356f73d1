// The remote consoles of a real QEMU guest (libvirt driver, TCG) through the all-in-one: the
// serial websocket reaches the guest's getty on ttyS0 — its login prompt, a root shell that
// runs what is typed — while `console log` keeps every line; the noVNC websocket reaches
// QEMU's own VNC server (RFB handshake to the guest's screen); and the dashboard's Console tab in
// Chromium shows the guest's login prompt (a screenshot to test-output/dashboard/).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { after, before, describe, it } from 'node:test';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';
import { LIBVIRT_URI, libvirtLeftovers, libvirtSkip, removeDomainsOf } from '../libvirt/support/libvirt.js';
import { BOOT_MARKER, uploadTestImage } from '../libvirt/support/test-image.js';
import { ConsoleClient, novncSocketUrl } from './support.js';
import { chromiumAvailable, ensureDashboardBuilt, launchBrowser } from '../support/browser.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack')) || libvirtSkip();
/** A TCG boot takes 12-15 s alone; other tests share the two cores. */
const BOOT_MS = 240_000;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

describe('remote consoles of a QEMU guest (libvirt driver)', { skip, timeout: 10 * 60_000 }, () => {
  const host = `lvc-${randomBytes(3).toString('hex')}`;
  let scratch: string;
  let instancesPath: string;
  let cloud: CloudProcess;
  let env: Record<string, string>;

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'orrery-lv-console-'));
    chmodSync(scratch, 0o755); // QEMU runs as libvirt-qemu and must reach the instance files
    instancesPath = join(scratch, 'instances');
    const ini = join(scratch, 'orrery.ini');
    writeFileSync(ini, ['[libvirt]', `connection_uri = ${LIBVIRT_URI}`, 'virt_type = qemu', `instances_path = ${instancesPath}`, ''].join('\n'));
    cloud = await startCloudProcess({ ORRERY_CONFIG: ini, ORRERY_COMPUTE_DRIVER: 'libvirt', ORRERY_COMPUTE_HOSTS: host });
    env = cloud.openrc;
    await uploadTestImage(env, 'lvc-guest');
    await openstackOk(['flavor', 'create', '--ram', '128', '--disk', '0', '--vcpus', '1', 'lvc.tiny'], env);
    await openstackOk(['server', 'create', '--image', 'lvc-guest', '--flavor', 'lvc.tiny', '--nic', 'none', '--wait', 'vm'], env);
    const deadline = Date.now() + BOOT_MS;
    while (!(await openstackOk(['console', 'log', 'show', 'vm'], env)).includes(BOOT_MARKER)) {
      if (Date.now() > deadline) throw new Error('the guest did not boot');
      await sleep(1000);
    }
  });

  after(async () => {
    await cloud?.stop();
    removeDomainsOf(host);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('the serial console shows the login prompt and runs a root shell; the console log keeps it all', async () => {
    const { url } = await openstackJson<{ url: string }>(['console', 'url', 'show', '--serial', 'vm'], env);
    const tty = new ConsoleClient(url);
    await tty.opened;
    // The getty printed its prompt before anyone connected: Enter asks again.
    tty.send('\r');
    await tty.until(/orrery-guest login: $/, 60_000);
    tty.send('root\r');
    // busybox ash's prompt, then its query of the cursor position (ESC [6n), which no one answers.
    await tty.until(/\/ # (\x1b\[6n)?$/, 30_000);
    tty.send('echo console-$((6*7))\r');
    await tty.until(/console-42/, 30_000);
    // Log out: the getty starts again, for whoever connects next (the session outlives the websocket).
    tty.send('exit\r');
    await tty.until(/orrery-guest login: $/, 60_000);
    tty.close();
    const log = await openstackOk(['console', 'log', 'show', 'vm'], env);
    assert.match(log, new RegExp(BOOT_MARKER));
    assert.match(log, /orrery-guest login:/);
    assert.match(log, /console-42/);
  });

  it('the dashboard\'s Console tab shows the guest\'s login prompt', { skip: backendSkip('chromium', chromiumAvailable()) }, async () => {
    await ensureDashboardBuilt();
    const dashboard = /Dashboard: (\S+?)\/?\n/.exec(cloud.output())?.[1];
    assert.ok(dashboard, 'the all-in-one names its dashboard');
    const { id } = await openstackJson<{ id: string }>(['server', 'show', 'vm'], env);
    const browser = await launchBrowser();
    try {
      const page = await browser.context.newPage();
      await page.goto(`${dashboard}/`);
      await page.fill('input[name=user]', env.OS_USERNAME!);
      await page.fill('input[name=password]', env.OS_PASSWORD!);
      await page.fill('input[name=project]', env.OS_PROJECT_NAME!);
      await page.click('button[type=submit]');
      await page.locator('header .user').waitFor();
      await page.goto(`${dashboard}/#/servers/${id}/console`);
      await page.check('input[name=console-kind][value=serial]');
      await page.locator('[data-testid=serial-state][data-state=connected]').waitFor({ timeout: 30_000 });
      const screen = page.locator('[data-testid=serial-screen]');
      await screen.click();
      await page.keyboard.press('Enter');
      const deadline = Date.now() + 60_000;
      while (!/orrery-guest login: *$/.test(await screen.innerText())) {
        if (Date.now() > deadline) assert.fail(`no login prompt on the screen: ${await screen.innerText()}`);
        await sleep(250);
      }
      mkdirSync(join(root, 'test-output', 'dashboard'), { recursive: true });
      await page.screenshot({ path: join(root, 'test-output', 'dashboard', 'console-libvirt-serial.png'), fullPage: true });
    } finally {
      await browser.close();
    }
  });

  it('the noVNC console reaches QEMU\'s VNC server: the RFB handshake to the guest\'s screen', async () => {
    const { url } = await openstackJson<{ url: string }>(['console', 'url', 'show', '--novnc', 'vm'], env);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    const vnc = new ConsoleClient(novncSocketUrl(url));
    await vnc.until(/^RFB 003\.008\n/);
    vnc.send('RFB 003.008\n');
    // QEMU without a password offers security type None (1).
    await vnc.until(/^RFB 003\.008\n\x01\x01/);
    vnc.send(Buffer.from([1]));
    const enough = async (n: number) => {
      for (let i = 0; i < 100 && vnc.bytes.length < n; i++) await sleep(50);
      assert.ok(vnc.bytes.length >= n, `${vnc.bytes.length} bytes, want ${n}`);
    };
    await enough(18);
    assert.equal(vnc.bytes.readUInt32BE(14), 0, 'SecurityResult OK');
    vnc.send(Buffer.from([1]));
    await enough(18 + 24);
    const init = vnc.bytes.subarray(18);
    assert.ok(init.readUInt16BE(0) >= 640 && init.readUInt16BE(2) >= 400, `a screen, ${init.readUInt16BE(0)}x${init.readUInt16BE(2)}`);
    vnc.close();
  });

  it('leaves nothing behind once the server is deleted', async () => {
    await openstackOk(['server', 'delete', '--wait', 'vm'], env);
    assert.deepEqual(libvirtLeftovers(host, instancesPath), []);
  });
});
