// End to end through the real `openstack` CLI on an all-in-one whose compute runs containers
// (Docker driver, real daemon): a busybox image built here and saved with `docker save` is
// uploaded as a `docker` image and booted with user data that writes a file, driven through
// every power operation, snapshotted, and the snapshot boots a second server that has the first
// one's file. Afterwards the daemon holds no container and no image of theirs.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { backendSkip, commandExists } from '../support/backends.js';
import { startCloudProcess, type CloudProcess } from '../support/cloud-process.js';
import { openstackJson, openstackOk } from '../support/openstack-cli.js';
import { cacheTagPrefix } from '@orrery/driver-docker';
import { BOOT_MARKER, buildBusyboxImage, containersOf, dockerSkip, dockerSocket, imagesOf, limitsOf, type BusyboxImage } from './support/docker.js';

const skip = backendSkip('the openstack CLI (python3-openstackclient)', commandExists('openstack')) || dockerSkip();

type Row = Record<string, unknown>;
const MiB = 1024 * 1024;
/** [compute] stopped_event_delay for this cloud: a reboot's stop event must not outlive it. */
const STOPPED_EVENT_DELAY = 2;
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

describe('the openstack CLI on a cloud of containers (Docker driver)', { skip, timeout: 10 * 60_000 }, () => {
  const host = `dke-${randomBytes(3).toString('hex')}`;
  let scratch: string;
  let guest: BusyboxImage;
  let cloud: CloudProcess;
  let env: Record<string, string>;
  let computeUrl: string;
  let token: string;
  const ids: Record<string, string> = {};
  const imageIds: string[] = [];
  let firstToken = '';

  /** The server as the compute API shows it (polled directly: the CLI takes a second a call). */
  async function server(name: string): Promise<{ status: string; taskState: string | null }> {
    const res = await fetch(`${computeUrl}/servers/${ids[name]}`, { headers: { 'x-auth-token': token } });
    assert.equal(res.status, 200, `GET server ${name}`);
    const s = ((await res.json()) as { server: Row }).server;
    return { status: String(s.status), taskState: (s['OS-EXT-STS:task_state'] as string | null) ?? null };
  }

  async function waitStatus(name: string, want: string, ms = 60_000): Promise<void> {
    const deadline = Date.now() + ms;
    for (;;) {
      const s = await server(name);
      if (s.status === want && s.taskState === null) return;
      if (s.status === 'ERROR') throw new Error(`${name} went to ERROR while waiting for ${want}`);
      if (Date.now() > deadline) throw new Error(`${name} is ${s.status}/${s.taskState}, wanted ${want}`);
      await sleep(200);
    }
  }

  /** The console log once the container has printed its marker `times` times. */
  async function waitStarts(name: string, times: number): Promise<string> {
    const deadline = Date.now() + 60_000;
    for (;;) {
      const log = await openstackOk(['console', 'log', 'show', name], env);
      if (log.split(BOOT_MARKER).length - 1 >= times) return log;
      if (Date.now() > deadline) throw new Error(`${name} did not print its marker ${times} time(s):\n${log.slice(-2000)}`);
      await sleep(500);
    }
  }

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'orrery-dk-e2e-'));
    guest = await buildBusyboxImage();
    cloud = await startCloudProcess({
      ORRERY_COMPUTE_DRIVER: 'docker',
      ORRERY_COMPUTE_HOSTS: host,
      ORRERY_DOCKER__SOCKET: dockerSocket(),
      ORRERY_COMPUTE__STOPPED_EVENT_DELAY: String(STOPPED_EVENT_DELAY),
    });
    env = cloud.openrc;
    computeUrl = /compute\s+(\S+)/.exec(cloud.output())![1]!;
    token = String((await openstackJson<Row>(['token', 'issue'], env)).id);
  });

  after(async () => {
    await cloud?.stop();
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('uploads the docker save tarball as a docker image and boots a container from it', async () => {
    const created = await openstackJson<Row>(['image', 'create', '--container-format', 'docker', '--disk-format', 'raw', '--file', guest.path, 'dk-busybox'], env);
    const img = await openstackJson<Row>(['image', 'show', String(created.id)], env);
    assert.equal(img.status, 'active');
    assert.equal(img.checksum, guest.md5);
    assert.equal(img.container_format, 'docker');
    imageIds.push(String(img.id));
    await openstackJson(['flavor', 'create', '--ram', '96', '--disk', '1', '--vcpus', '2', 'dk.small'], env);

    // The image's init runs user data that is a script: this one leaves a file in /root, which
    // the init prints (FILE /root/token …) on every later start.
    const userData = join(scratch, 'user-data');
    writeFileSync(userData, `#!/bin/sh
[ -f /root/token ] || { head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \\n' > /root/token; echo "token written $(cat /root/token)"; }
`);
    const vm1 = await openstackJson<Row>(['server', 'create', '--image', 'dk-busybox', '--flavor', 'dk.small', '--nic', 'none', '--user-data', userData, '--wait', 'vm1'], env);
    assert.equal(vm1.status, 'ACTIVE');
    assert.equal(vm1['OS-EXT-SRV-ATTR:host'], host);
    ids.vm1 = String(vm1.id);
    const log = await waitStarts('vm1', 1);
    assert.match(log, new RegExp(`${BOOT_MARKER} vm1\\b`), 'the container has the server\'s hostname');
    firstToken = /token written ([0-9a-f]{32})/.exec(log)?.[1] ?? '';
    assert.ok(firstToken, `the container wrote its token on its first start:\n${log}`);
  });

  it('runs the container with the flavor as cgroup limits (docker inspect)', async () => {
    const [c] = containersOf([ids.vm1!]);
    assert.ok(c, 'the server has a container on the daemon');
    const limits = limitsOf(c);
    assert.equal(limits.memory, 96 * MiB, 'memory limit = the flavor\'s RAM');
    const cpus = limits.nanoCpus > 0 ? limits.nanoCpus / 1e9 : limits.cpuQuota / limits.cpuPeriod;
    assert.equal(cpus, 2, `CPU limit = the flavor's vCPUs (${JSON.stringify(limits)})`);
  });

  it('stops and starts the server: the container starts again and finds its file', async () => {
    await openstackOk(['server', 'stop', 'vm1'], env);
    await waitStatus('vm1', 'SHUTOFF');
    await openstackOk(['server', 'start', 'vm1'], env);
    await waitStatus('vm1', 'ACTIVE');
    assert.match(await waitStarts('vm1', 2), new RegExp(`FILE /root/token ${firstToken}`));
  });

  it('reboots soft and hard, and the server is ACTIVE after each', async () => {
    await openstackOk(['server', 'reboot', '--wait', 'vm1'], env);
    await waitStarts('vm1', 3);
    await openstackOk(['server', 'reboot', '--hard', '--wait', 'vm1'], env);
    await waitStarts('vm1', 4);
    // Past the stopped-event delay: the restart's stop event must not have turned it SHUTOFF.
    await sleep((STOPPED_EVENT_DELAY + 2) * 1000);
    assert.equal((await server('vm1')).status, 'ACTIVE');
  });

  it('pauses and unpauses the server', async () => {
    await openstackOk(['server', 'pause', 'vm1'], env);
    await waitStatus('vm1', 'PAUSED');
    await openstackOk(['server', 'unpause', 'vm1'], env);
    await waitStatus('vm1', 'ACTIVE');
    const events = await openstackJson<Row[]>(['server', 'event', 'list', 'vm1'], env);
    const actions = events.map((e) => e.Action);
    for (const a of ['create', 'stop', 'start', 'reboot', 'pause', 'unpause']) assert.ok(actions.includes(a), `no ${a} action in ${actions.join(',')}`);
  });

  it('creates an image from the server; a second server booted from it has the first one\'s file', async () => {
    const snap = await openstackJson<Row>(['server', 'image', 'create', '--name', 'dk-snap', '--wait', 'vm1'], env);
    imageIds.push(String(snap.id));
    const image = await openstackJson<Row>(['image', 'show', String(snap.id)], env);
    assert.equal(image.status, 'active');
    assert.equal(image.container_format, 'docker', 'a snapshot of a container is a docker image');
    assert.ok(Number(image.size) > 0);
    await waitStatus('vm1', 'ACTIVE');

    const vm2 = await openstackJson<Row>(['server', 'create', '--image', 'dk-snap', '--flavor', 'dk.small', '--nic', 'none', '--wait', 'vm2'], env);
    assert.equal(vm2.status, 'ACTIVE');
    ids.vm2 = String(vm2.id);
    assert.match(await waitStarts('vm2', 1), new RegExp(`FILE /root/token ${firstToken}`), 'the snapshot carried the file');
  });

  it('deletes both servers and their images; the daemon holds no container and no image of theirs', async () => {
    await openstackOk(['server', 'delete', '--wait', 'vm1', 'vm2'], env);
    assert.deepEqual(await openstackJson<Row[]>(['server', 'list'], env), []);
    assert.deepEqual(containersOf([ids.vm1!, ids.vm2!]), []);
    await openstackOk(['image', 'delete', ...imageIds], env);
    // The image cache may let a loaded image go a moment after its last container. By this host's
    // cache tags, not the image's id: other tests on the shared daemon load the same busybox image.
    const deadline = Date.now() + 30_000;
    let left = imagesOf([], [...imageIds, cacheTagPrefix(host)]);
    while (left.length > 0 && Date.now() < deadline) {
      await sleep(1000);
      left = imagesOf([], [...imageIds, cacheTagPrefix(host)]);
    }
    assert.deepEqual(left, []);
  });
});
