// The libvirt driver with guests that really boot (TCG): what the conformance kit cannot see
// because it never waits for a boot — the console, ACPI, the disk a snapshot carries, a QEMU
// killed behind the driver's back, the event stream dying, and the image cache.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { isDriverError, PowerState, type ImageRef, type ImageService, type InstanceSpec, type LifecycleEvent } from '@orrery/virt-api';
import { LibvirtDriver } from '@orrery/driver-libvirt';
import {
  BOOT_MARKER, guestSpec, leftovers, libvirtContext, libvirtSkip, md5, removeDomains, testImageService, uniqueHost, URI, waitFor,
} from './support.js';

const skip = libvirtSkip();
const BOOT_MS = 180_000; // a TCG boot takes 12-15 s alone; others may be booting guests too

describe('libvirt driver: real guests', { skip, timeout: 15 * 60_000 }, () => {
  const host = uniqueHost('lvg');
  const { images: store, root } = skip ? ({} as ReturnType<typeof testImageService>) : testImageService();
  const downloads = new Map<string, number>();
  const images: ImageService = {
    download: (id) => {
      downloads.set(id, (downloads.get(id) ?? 0) + 1);
      return store.download(id);
    },
    upload: (id, data) => store.upload(id, data),
  };
  const events: LifecycleEvent[] = [];
  let driver: LibvirtDriver;
  let cleanup: () => Promise<void>;
  let instancesPath: string;
  let node: string;
  /** Boots normally. */
  let a: InstanceSpec;
  /** Ignores the ACPI power button. */
  let deaf: InstanceSpec;

  const ref = (s: InstanceSpec) => ({ uuid: s.uuid, node: s.node });
  const consoleOf = (s: InstanceSpec) => driver.getConsoleOutput(ref(s));
  const count = (text: string, what: string) => text.split(what).length - 1;
  const booted = (s: InstanceSpec, times = 1) =>
    waitFor(`${s.name} to boot (${times})`, BOOT_MS, async () => count(await consoleOf(s), BOOT_MARKER) >= times);
  const state = async (s: InstanceSpec) => (await driver.getInstance(ref(s))).powerState;
  const eventsOf = (s: InstanceSpec, since: number) => events.slice(since).filter((e) => e.uuid === s.uuid).map((e) => e.transition);

  before(async () => {
    const made = await libvirtContext(host, store, { wait_soft_reboot_seconds: '10' });
    made.ctx.images = images;
    cleanup = made.cleanup;
    instancesPath = join(made.ctx.stateDir, 'instances');
    driver = new LibvirtDriver();
    await driver.init(made.ctx);
    node = (await driver.listNodes())[0]!.name;
    driver.onEvent((e) => events.push(e));
    a = guestSpec(node, root);
    deaf = guestSpec(node, { ...root, properties: { ...root.properties, os_command_line: 'console=ttyS0 quiet orrery.acpi=ignore' } });
    await Promise.all([driver.spawn(a), driver.spawn(deaf)]);
    await Promise.all([booted(a), booted(deaf)]);
  });

  after(async () => {
    try {
      if (driver) {
        for (const i of await driver.listInstances()) await driver.destroy(i);
        assert.deepEqual(leftovers(host, instancesPath), [], 'everything of the test host is gone');
        await driver.shutdown();
      }
    } finally {
      removeDomains(host);
      await cleanup?.();
    }
  });

  it('boots the test guest: its console shows the boot marker, the flavor disks and a fresh token', async () => {
    const out = await consoleOf(a);
    assert.match(out, /orrery-guest: disks: vda vdb vdc/, 'root, ephemeral and swap disks');
    assert.match(out, /orrery-guest: token written [0-9a-f]{32}/);
    const xml = execFileSync('virsh', ['-q', '-c', URI, 'dumpxml', driver.domainName(a.uuid)], { encoding: 'utf8' });
    assert.match(xml, /<domain type='qemu'/);
    assert.match(xml, /<memory unit='KiB'>131072<\/memory>/);
    assert.match(xml, /<tb-cache unit='KiB'>32768<\/tb-cache>/);
    assert.equal(JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', join(instancesPath, a.uuid, 'disk')], { encoding: 'utf8' }))['virtual-size'], 1024 ** 3, 'the overlay is grown to the flavor root disk');
  });

  it('soft reboot goes through ACPI: the guest powers itself down and comes back, never stopped', async () => {
    const since = events.length;
    await driver.reboot(ref(a), 'soft');
    assert.equal(await state(a), PowerState.RUNNING);
    await booted(a, 2);
    assert.match(await consoleOf(a), /power button pressed/);
    assert.deepEqual(eventsOf(a, since), [], 'a soft reboot changes no power state');
  });

  it('a snapshot carries the disk: a guest booted from it finds the first guest\'s token', async () => {
    const token = /token written ([0-9a-f]{32})/.exec(await consoleOf(a))![1]!;
    await driver.snapshot({ instance: ref(a), imageId: 'lv-snapshot', diskFormat: 'qcow2' });
    assert.equal(await state(a), PowerState.RUNNING, 'the guest runs on after the snapshot');
    const data = store.images.get('lv-snapshot')!;
    assert.ok(data && data.byteLength > 0, 'snapshot data uploaded');
    const image: ImageRef = { ...root, id: 'lv-snapshot', name: 'lv-snapshot', size: data.byteLength, checksum: md5(data) };
    const b = guestSpec(node, image);
    await driver.spawn(b);
    await booted(b);
    assert.match(await consoleOf(b), new RegExp(`token found ${token}`));
    await driver.destroy(ref(b));
  });

  it('soft reboot and soft power-off of a guest that ignores ACPI fall back to hard', async () => {
    assert.match(await consoleOf(deaf), /ignoring the ACPI power button/);
    let since = events.length;
    await driver.reboot(ref(deaf), 'soft'); // waits wait_soft_reboot_seconds, then reboots hard
    assert.equal(await state(deaf), PowerState.RUNNING);
    await waitFor('stopped then started', 20_000, () => eventsOf(deaf, since).join(',') === 'stopped,started');
    await booted(deaf, 2);
    since = events.length;
    await driver.powerOff(ref(deaf), 3);
    assert.equal(await state(deaf), PowerState.SHUTDOWN);
    await waitFor('stopped', 20_000, () => eventsOf(deaf, since).includes('stopped'));
  });

  it('a guest whose QEMU is killed is reported stopped through libvirt\'s events', async () => {
    const since = events.length;
    const pid = Number(readFileSync(`/run/libvirt/qemu/${driver.domainName(a.uuid)}.pid`, 'utf8'));
    process.kill(pid, 'SIGKILL');
    const e = await waitFor('a stopped event', 30_000, () => events.slice(since).find((x) => x.uuid === a.uuid && x.transition === 'stopped'));
    assert.equal(e.powerState, PowerState.SHUTDOWN);
    assert.equal(await state(a), PowerState.SHUTDOWN);
  });

  it('the event stream comes back when its virsh dies, and reports what changed meanwhile', async () => {
    const old = driver.eventStreamPid!;
    // Freeze it, change a guest's power state behind the driver, then kill it: that event is lost.
    process.kill(old, 'SIGSTOP');
    execFileSync('virsh', ['-q', '-c', URI, 'start', driver.domainName(a.uuid)]);
    const since = events.length;
    process.kill(old, 'SIGKILL');
    await waitFor('the resynced started event', 30_000, () => eventsOf(a, since).includes('started'));
    assert.notEqual(driver.eventStreamPid, old);
    const since2 = events.length;
    await driver.pause(ref(a));
    await waitFor('a paused event from the new stream', 20_000, () => eventsOf(a, since2).includes('paused'));
    await driver.destroy(ref(a));
  });

  it('concurrent spawns download an image once; a bad checksum leaves nothing; unused images expire', async () => {
    const copy: ImageRef = { ...root, id: 'lv-disk-copy', name: 'lv-disk-copy' };
    store.images.set(copy.id, store.images.get(root.id)!);
    const twins = [guestSpec(node, copy), guestSpec(node, copy)];
    await Promise.all(twins.map((s) => driver.spawn(s)));
    assert.equal(downloads.get(copy.id), 1, 'one download for two concurrent spawns');

    const bad: ImageRef = { ...root, id: 'lv-disk-bad', name: 'lv-disk-bad', checksum: '0'.repeat(32) };
    store.images.set(bad.id, store.images.get(root.id)!);
    const doomed = guestSpec(node, bad);
    await assert.rejects(driver.spawn(doomed), (err: unknown) => isDriverError(err, 'ImageError') && /checksum mismatch/.test(err.message));
    assert.ok(!existsSync(join(instancesPath, '_base', bad.id)), 'no cache entry of a bad download');
    assert.ok(!existsSync(join(instancesPath, doomed.uuid)), 'no instance files');

    for (const s of twins) await driver.destroy(ref(s));
    assert.deepEqual(await driver.manageImageCache(3600), [], 'recently used images stay');
    const removed = await driver.manageImageCache(0);
    assert.ok(removed.includes(copy.id), `the unused copy is removed (removed: ${removed.join(', ')})`);
    for (const id of [root.id, 'lv-kernel', 'lv-ramdisk']) {
      assert.ok(existsSync(join(instancesPath, '_base', id)), `${id} stays: the ACPI-deaf guest uses it`);
    }
    assert.deepEqual(leftovers(host, instancesPath).filter((l) => !l.includes(deaf.uuid)), []);
  });

  it('runs four 128 MiB guests at once, each with the memory libvirt reports', async () => {
    const four = Array.from({ length: 4 }, () => guestSpec(node, root, { flavor: { ...a.flavor, ephemeralGb: 0, swapMb: 0 } }));
    await Promise.all(four.map((s) => driver.spawn(s)));
    try {
      await Promise.all(four.map((s) => booted(s)));
      for (const s of four) {
        const info = execFileSync('virsh', ['-q', '-c', URI, 'dominfo', driver.domainName(s.uuid)], { encoding: 'utf8' });
        assert.match(info, /State:\s+running/);
        assert.match(info, /Max memory:\s+131072 KiB/);
        assert.match(info, /Used memory:\s+131072 KiB/);
      }
      const listed = new Set((await driver.listInstances()).filter((i) => i.powerState === PowerState.RUNNING).map((i) => i.uuid));
      for (const s of four) assert.ok(listed.has(s.uuid));
    } finally {
      await Promise.all(four.map((s) => driver.destroy(ref(s))));
    }
  });
});
