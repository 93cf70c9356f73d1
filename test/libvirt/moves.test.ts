// The libvirt driver's moves with guests that really boot (TCG), between two libvirt hosts on
// this machine (support/two-hosts.ts): a running guest live-migrated A→B (block migration)
// keeps printing its heartbeat and keeps its boot count, and a migration back aborted midway
// leaves it running on B; a guest cold-migrated A→B with a
// bigger flavor boots on B with its disk token, and A's compute restarted before the confirm
// still removes what it kept. Nothing of either is left on A. Two guests
// boot here (three boots in all): each TCG boot is slow on a shared machine.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PowerState, type InstanceSpec, type MoveProgress } from '@orrery/virt-api';
import { LibvirtDriver } from '@orrery/driver-libvirt';
import { moveImages, smallGuest, waitFor } from './support/move-images.js';
import { startMoveHosts, type MoveHost } from './support/move-hosts.js';
import { twoHostsSkip } from './support/two-hosts.js';

const skip = twoHostsSkip();
const BOOT_MS = 240_000;

describe('libvirt driver: moves between two hosts, real guests', { skip, timeout: 20 * 60_000 }, () => {
  const { images, root } = skip ? ({} as ReturnType<typeof moveImages>) : moveImages();
  let hosts: Awaited<ReturnType<typeof startMoveHosts>>;
  let a: MoveHost;
  let b: MoveHost;
  const ref = (s: InstanceSpec, node = s.node) => ({ uuid: s.uuid, node });
  const consoleOf = (h: MoveHost, s: InstanceSpec) => h.driver.getConsoleOutput(ref(s, h.name));
  const beats = (text: string) => [...text.matchAll(/orrery-guest: heartbeat (\d+)/g)].map((m) => Number(m[1]));
  const boots = (text: string) => [...text.matchAll(/orrery-guest: boot (\d+)/g)].map((m) => Number(m[1]));

  before(async () => {
    hosts = await startMoveHosts(images, { shutdown_timeout: '30' });
    a = hosts.a;
    b = hosts.b;
  });

  after(async () => {
    await hosts?.stop();
    hosts?.hostB.stop();
  });

  it('live-migrates a running guest A→B (block migration): heartbeats go on, the boot count stays, nothing is left on A', async () => {
    const withBeat = { ...root, properties: { ...root.properties, os_command_line: 'console=ttyS0 quiet orrery.heartbeat=1' } };
    const s = smallGuest(a.name, withBeat);
    await a.driver.spawn(s);
    await waitFor('the guest to boot and beat', BOOT_MS, async () => beats(await consoleOf(a, s)).length >= 3);
    const before = await consoleOf(a, s);
    assert.deepEqual(boots(before), [1], 'first boot');
    const id = randomUUID();
    const target = await b.driver.preLiveMigration({ move: { instance: ref(s, b.name), migrationId: id }, instance: { ...s, node: b.name }, blockMigration: true });
    const progress: MoveProgress[] = [];
    const t0 = Date.now();
    await a.driver.liveMigration({ move: { instance: ref(s), migrationId: id }, target, blockMigration: true }, { onProgress: (p) => progress.push(p) });
    const seconds = (Date.now() - t0) / 1000;
    // A's console log until the switch-over (its domain is gone, its files stay until postLiveMigrationAtSource).
    const onA = beats(readFileSync(join(a.instancesPath, s.uuid, 'console.log'), 'utf8'));
    const lastBeatBefore = Math.max(...onA);
    const info = await b.driver.postLiveMigrationAtDestination({ instance: ref(s, b.name), migrationId: id });
    assert.equal(info.powerState, PowerState.RUNNING);
    await a.driver.postLiveMigrationAtSource({ instance: ref(s), migrationId: id });
    assert.deepEqual(a.leftovers(), [], 'nothing of the guest is left on A (domain, disks, console log)');
    assert.deepEqual((await a.driver.listInstances()).map((i) => i.uuid), []);
    assert.ok(progress.length >= 1 && progress.some((p) => p.diskTotal > 0), `block migration progress reported (${progress.length} reports)`);
    // The guest goes on where it was: the next heartbeats land in B's console log, no new boot.
    const after = await waitFor('heartbeats on B', 60_000, async () => {
      const text = await consoleOf(b, s);
      return beats(text).length >= 3 ? text : null;
    });
    const onB = beats(after);
    assert.deepEqual(boots(after), [], 'no boot on B: the guest did not restart');
    // One beat may fall into the switch-over (QEMU's serial buffer of the source goes with it).
    assert.ok(onB[0]! >= lastBeatBefore + 1 && onB[0]! <= lastBeatBefore + 2, `heartbeats continue (…${lastBeatBefore} on A, ${onB.join(',')} on B)`);
    for (let i = 1; i < onB.length; i++) assert.equal(onB[i], onB[i - 1]! + 1, 'heartbeats count on without a gap');
    console.log(`# live migration A→B (block): ${seconds.toFixed(1)} s, ${progress.length} progress reports, heartbeat ${lastBeatBefore} → ${onB[0]}`);

    // Back B→A, aborted while the copy runs: the guest goes on on B, A keeps nothing once rolled back.
    const back = randomUUID();
    const toA = await a.driver.preLiveMigration({ move: { instance: ref(s, a.name), migrationId: back }, instance: s, blockMigration: true });
    const ac = new AbortController();
    const reports: MoveProgress[] = [];
    const outcome = await b.driver.liveMigration({ move: { instance: ref(s, b.name), migrationId: back }, target: toA, blockMigration: true }, {
      signal: ac.signal,
      onProgress: (p) => {
        reports.push(p);
        if (reports.length === 2) ac.abort(new Error('test: abort the migration under way'));
      },
    }).then(() => 'finished', (e: unknown) => (e as { code?: string }).code ?? String(e));
    assert.equal(outcome, 'Aborted', `the aborted migration (${reports.length} reports)`);
    assert.equal((await b.driver.getInstance(ref(s, b.name))).powerState, PowerState.RUNNING, 'still running on B');
    await a.driver.rollbackLiveMigrationAtDestination({ instance: ref(s, a.name), migrationId: back });
    assert.deepEqual(a.leftovers(), [], 'nothing of the aborted migration on A');
    const lastOnB = Math.max(...beats(await consoleOf(b, s)));
    await waitFor('a heartbeat after the abort', 30_000, async () => Math.max(...beats(await consoleOf(b, s))) > lastOnB);
    assert.deepEqual(boots(await consoleOf(b, s)), [], 'no restart on B');
    await b.driver.destroy(ref(s, b.name));
    assert.deepEqual(b.leftovers(), []);
  });

  it('cold-migrates a guest A→B with a bigger flavor: it boots on B with its disk token, nothing of it is left on A', async () => {
    const s = smallGuest(a.name, root);
    await a.driver.spawn(s);
    const token = await waitFor('the token', BOOT_MS, async () => /token written ([0-9a-f]{32})/.exec(await consoleOf(a, s))?.[1]);
    const id = randomUUID();
    const imageId = `transfer-${id}`;
    await a.driver.migrateDiskAndPowerOff({ move: { instance: ref(s), migrationId: id }, transfer: { imageId, diskFormat: 'qcow2' } });
    assert.deepEqual((await a.driver.listInstances()).map((i) => i.uuid), [], 'the kept guest is not listed on A');
    const bigger = { ...s.flavor, id: 'lv.bigger', name: 'lv.bigger', vcpus: 2, memoryMb: 192, rootGb: 2 };
    const transfer = { ...root, id: imageId, name: imageId, size: images.images.get(imageId)!.byteLength, checksum: null };
    const spec = { ...s, node: b.name, flavor: bigger };
    const info = await b.driver.finishMigration({ move: { instance: ref(s, b.name), migrationId: id }, instance: spec, transfer, sourceNode: a.name, powerOn: true });
    assert.equal(info.powerState, PowerState.RUNNING);
    const text = await waitFor('the guest to boot on B', BOOT_MS, async () => {
      const t = await consoleOf(b, s);
      return /token found/.test(t) && boots(t).length > 0 ? t : null;
    });
    assert.match(text, new RegExp(`token found ${token}`), 'the disk came along');
    const xml = execFileSync('virsh', ['-q', '-c', b.uri, 'dumpxml', b.driver.domainName(s.uuid)], { encoding: 'utf8' });
    assert.match(xml, /<vcpu[^>]*>2<\/vcpu>/, 'the new flavor\'s vCPUs');
    assert.match(xml, /<memory unit='KiB'>196608<\/memory>/, 'the new flavor\'s memory');
    const disk = JSON.parse(execFileSync('qemu-img', ['info', '-U', '--output=json', join(b.instancesPath, s.uuid, 'disk')], { encoding: 'utf8' })) as
      { 'virtual-size': number; 'backing-filename'?: string };
    assert.equal(disk['virtual-size'], 2 * 1024 ** 3, 'the root disk grew to the new flavor\'s 2 GiB');
    assert.equal(disk['backing-filename'], undefined, 'a standalone disk on B');
    assert.deepEqual(boots(text), [2], 'its second boot');
    // A's compute restarts before the confirm: what it kept, and the move's record, are on disk.
    await a.driver.shutdown();
    a.driver = new LibvirtDriver();
    await a.driver.init(a.ctx);
    assert.ok(existsSync(join(a.instancesPath, `${s.uuid}_resize`, 'disk')), 'the kept guest survived the restart');
    await a.driver.confirmMigration({ instance: ref(s), migrationId: id });
    assert.deepEqual(a.leftovers(), [], 'nothing of the guest is left on A');
    await b.driver.destroy(ref(s, b.name));
    assert.deepEqual(b.leftovers(), []);
  });
});
