// The Docker driver with real containers: what the conformance kit cannot see — the flavor's
// cgroup limits, labels, hostname, user data and key inside the container, the console, a
// container killed behind the driver's back, a snapshot that carries a file, a rebuild, and
// the image cache (one load for parallel spawns, a bad checksum or tarball leaving nothing).
import assert from 'node:assert/strict';
import { createHash } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isDriverError, PowerState, type ImageService, type InstanceSpec, type LifecycleEvent } from '@orrery/virt-api';
import { createTestContext, MemoryImageService } from '@orrery/virt-api/conformance';
import { DockerDriver, LABEL, SEED_DIR } from '@orrery/driver-docker';
import { BOOT_MARKER, STOP_MARKER } from './support/busybox-image.js';
import { docker, dockerSkip } from './support/docker.js';
import { busyboxImages, containerSpec, imageRef, imagesOf, leftovers, removeHost, uniqueHost, waitFor } from './support/fixture.js';

const skip = dockerSkip();
const MS = 30_000;

describe('docker driver: real containers', { skip, timeout: 5 * 60_000 }, () => {
  const host = uniqueHost('dkc');
  let store: MemoryImageService;
  let busybox: Awaited<ReturnType<typeof busyboxImages>>['busybox'];
  const downloads = new Map<string, number>();
  /** While set, downloads wait for it: a load the test can abandon halfway. */
  let gate: Promise<void> | null = null;
  const events: LifecycleEvent[] = [];
  let driver: DockerDriver;
  let stateDir: string;
  let cleanup: () => Promise<void>;
  let node: string;

  const ref = (s: InstanceSpec) => ({ uuid: s.uuid, node: s.node });
  const consoleOf = (s: InstanceSpec) => driver.getConsoleOutput(ref(s));
  const inspect = (s: InstanceSpec) => JSON.parse(docker(['inspect', driver.containerName(s.uuid)]))[0] as {
    HostConfig: Record<string, unknown>; Config: { Hostname: string; Labels: Record<string, string> }; State: { Pid: number };
  };
  const exec = (s: InstanceSpec, ...cmd: string[]) => docker(['exec', driver.containerName(s.uuid), ...cmd]);
  const booted = (s: InstanceSpec) => waitFor(`${s.name} to print its marker`, MS, async () => (await consoleOf(s)).includes(BOOT_MARKER));
  const eventsOf = (s: InstanceSpec, since: number) => events.slice(since).filter((e) => e.uuid === s.uuid).map((e) => e.transition);

  before(async () => {
    const made = await busyboxImages();
    store = made.images;
    busybox = made.busybox;
    const images: ImageService = {
      download: async (id) => {
        downloads.set(id, (downloads.get(id) ?? 0) + 1);
        await gate;
        return store.download(id);
      },
      upload: (id, data) => store.upload(id, data),
    };
    const ctx = await createTestContext({ host, images });
    stateDir = ctx.ctx.stateDir;
    cleanup = ctx.cleanup;
    driver = new DockerDriver();
    await driver.init(ctx.ctx);
    node = (await driver.listNodes())[0]!.name;
    driver.onEvent((e) => events.push(e));
  });

  after(async () => {
    await driver?.shutdown();
    removeHost(host);
    await cleanup?.();
  });

  it('a spawn loads the image once for parallel spawns, applies the flavor as cgroup limits and seeds the container', async () => {
    const key = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIKit kit@orrery';
    const flavor = { id: 'dk.small', name: 'dk.small', vcpus: 2, memoryMb: 96, rootGb: 1, ephemeralGb: 0, swapMb: 32, extraSpecs: {} };
    const a = containerSpec(node, busybox, {
      name: 'Web Server #1', flavor, metadata: { role: 'web', 'odd key': 'x' }, keyData: key,
      userData: Buffer.from('#!/bin/sh\necho user-data-ran > /root/hello\n').toString('base64'),
    });
    const b = containerSpec(node, busybox);
    await Promise.all([driver.spawn(a), driver.spawn(b)]);
    assert.equal(downloads.get(busybox.id), 1, 'one download for two parallel spawns of one image');
    const hc = inspect(a).HostConfig;
    assert.deepEqual(
      [hc.Memory, hc.MemorySwap, hc.CpuQuota, hc.CpuPeriod, hc.CpuShares, hc.PidsLimit, hc.NetworkMode, hc.Init],
      [96 * 2 ** 20, (96 + 32) * 2 ** 20, 200_000, 100_000, 2048, 1024, 'none', true],
    );
    const cfg = inspect(a).Config;
    assert.equal(cfg.Hostname, 'web-server-1');
    assert.deepEqual([cfg.Labels[LABEL.instance], cfg.Labels[LABEL.host], cfg.Labels[`${LABEL.meta}role`], cfg.Labels[`${LABEL.meta}odd key`]], [a.uuid, host, 'web', 'x']);
    await booted(a);
    assert.match(await consoleOf(a), new RegExp(`${BOOT_MARKER} web-server-1`));
    assert.equal(exec(a, 'cat', '/root/.ssh/authorized_keys').trim(), key);
    assert.match(exec(a, 'cat', `/${SEED_DIR}/meta-data`), new RegExp(`instance-id: "${a.uuid}"`));
    assert.equal(JSON.parse(exec(a, 'cat', `/${SEED_DIR}/meta_data.json`)).meta.role, 'web');
    assert.equal(await waitFor('the user data to run', MS, () => exec(a, 'cat', '/root/hello').trim()), 'user-data-ran');
    assert.equal(exec(a, 'ip', '-o', 'link').split('\n').filter(Boolean).length, 1, 'no network: only lo');
    await driver.destroy(ref(a));
    assert.equal(imagesOf(host).length, 1, 'the image stays while another container uses it');
    await driver.destroy(ref(b));
    assert.deepEqual(leftovers(host, stateDir), [], 'the last destroy removes the image');
  });

  it('a container killed behind the driver\'s back is reported stopped; power on and reboots bring it back', async () => {
    const a = containerSpec(node, busybox);
    await driver.spawn(a);
    await booted(a);
    const since = events.length;
    docker(['kill', driver.containerName(a.uuid)]);
    await waitFor('the stopped event', MS, () => eventsOf(a, since).includes('stopped'));
    assert.equal((await driver.getInstance(ref(a))).powerState, PowerState.SHUTDOWN);
    await driver.powerOn(ref(a));
    await driver.reboot(ref(a), 'soft');
    // A soft reboot is a SIGTERM the image's init answers.
    await waitFor('the stop marker of the soft reboot', MS, async () => (await consoleOf(a)).includes(STOP_MARKER));
    await driver.reboot(ref(a), 'hard');
    assert.equal((await driver.getInstance(ref(a))).powerState, PowerState.RUNNING);
    await driver.pause(ref(a));
    await driver.powerOff(ref(a), 5);
    assert.equal((await driver.getInstance(ref(a))).powerState, PowerState.SHUTDOWN, 'a paused container powers off');
    await driver.destroy(ref(a));
  });

  it('a change while the event stream is down is reported once it is reopened', async () => {
    const a = containerSpec(node, busybox);
    await driver.spawn(a);
    await waitFor('the started event', MS, () => eventsOf(a, 0).includes('started'));
    const since = events.length;
    driver.interruptEventStream();
    // Within the second before the stream is reopened: only the resync can see it.
    docker(['kill', driver.containerName(a.uuid)]);
    await waitFor('the stopped event after the reopen', MS, () => eventsOf(a, since).includes('stopped'));
    assert.deepEqual(eventsOf(a, since), ['stopped'], 'reported once');
    await driver.destroy(ref(a));
  });

  it('a snapshot is a docker save tarball that boots with the first container\'s files; rebuild replaces the container', async () => {
    const a = containerSpec(node, busybox, { userData: Buffer.from('#!/bin/sh\necho kept > /root/evidence\n').toString('base64') });
    await driver.spawn(a);
    await waitFor('the user data to run', MS, () => exec(a, 'cat', '/root/evidence').trim() === 'kept');
    await waitFor('the started event', MS, () => eventsOf(a, 0).includes('started'));
    const since = events.length;
    await driver.snapshot({ instance: ref(a), imageId: 'dk-snap', diskFormat: 'raw' });
    assert.deepEqual(eventsOf(a, since), [], 'the commit\'s freeze is no transition');
    const data = Buffer.from(store.images.get('dk-snap')!);
    assert.ok(data.byteLength > 0);
    assert.equal(docker(['images', '-q', '--filter', 'dangling=false']).includes('dk-snap'), false);
    const snap = imageRef('dk-snap', data, createHash('md5').update(data).digest('hex'));
    const b = containerSpec(node, snap);
    await driver.spawn(b);
    await waitFor('the snapshot\'s file on the console', MS, async () => (await consoleOf(b)).includes('FILE /root/evidence kept'));
    const before = inspect(a).State.Pid;
    await driver.rebuild({ instance: a, image: snap });
    assert.notEqual(inspect(a).State.Pid, before, 'a new container');
    await waitFor('the rebuilt container to boot', MS, async () => (await consoleOf(a)).includes('FILE /root/evidence kept'));
    await driver.destroy(ref(a));
    await driver.destroy(ref(b));
    assert.deepEqual(leftovers(host, stateDir), []);
  });

  it('a bad checksum, data that is no tarball and an unknown image fail the spawn and leave nothing', async () => {
    store.images.set('dk-junk', Buffer.from('not a tarball at all'));
    const cases = [
      containerSpec(node, { ...busybox, checksum: '0'.repeat(32) }),
      containerSpec(node, imageRef('dk-junk', Buffer.from('not a tarball at all'), createHashHex('not a tarball at all'))),
      containerSpec(node, { ...busybox, id: 'dk-missing', checksum: null }),
    ];
    const codes: string[] = [];
    for (const s of cases) {
      await driver.spawn(s).then(() => codes.push('succeeded'), (err: unknown) => codes.push(isDriverError(err) ? err.code : String(err)));
    }
    assert.deepEqual(codes, ['ImageError', 'ImageError', 'ImageNotFound']);
    assert.deepEqual(leftovers(host, stateDir), []);
  });

  it('a spawn aborted while its image loads creates nothing, and the load it leaves is removed', async () => {
    let open!: () => void;
    gate = new Promise((r) => (open = r));
    const ac = new AbortController();
    const s = containerSpec(node, busybox);
    const before = downloads.get(busybox.id) ?? 0;
    const spawned = driver.spawn(s, { signal: ac.signal });
    await waitFor('the download to start', MS, () => (downloads.get(busybox.id) ?? 0) > before);
    ac.abort();
    await assert.rejects(spawned, (err: unknown) => isDriverError(err, 'Aborted'));
    gate = null;
    open();
    await waitFor('the abandoned load to be removed', MS, () => leftovers(host, stateDir).length === 0 && imagesOf(host).length === 0);
    await assert.rejects(driver.getInstance(ref(s)), (err: unknown) => isDriverError(err, 'InstanceNotFound'));
  });
});

const createHashHex = (s: string) => createHash('md5').update(s).digest('hex');
