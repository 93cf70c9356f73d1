// One cloud, three hypervisors (issue #15): the multi-process deployment on PostgreSQL and
// RabbitMQ with three compute processes — the fake driver taking raw images, the libvirt driver
// (real TCG guests) taking qcow2 and ami, the Docker driver taking container images. Each image
// reaches the host that can boot it by scheduling alone (the image type prefilter: no host or
// zone named in any request), and an image no host declares is refused with "No valid host".
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { api, waitFor, type Session } from '../support/cloud.js';
import { startDeployment, type Deployment } from '../support/deployment.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';
import { RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { loginTo, MV, seededImage, waitSettled, type ServerView } from '../scaleout/support.js';
import { LIBVIRT_URI, libvirtLeftovers, libvirtSkip, removeDomainsOf } from '../libvirt/support/libvirt.js';
import { BOOT_MARKER, buildTestImage } from '../libvirt/support/test-image.js';
import { cacheTagPrefix } from '@orrery/driver-docker';
import { BOOT_MARKER as CONTAINER_MARKER, buildBusyboxImage, containersOf, dockerSkip, dockerSocket, imagesOf } from './support/docker.js';

const skip = pgSkip || (await rabbitSkip()) || libvirtSkip() || dockerSkip();
/** A TCG boot takes 12-15 s alone; other engineers' tests share the two cores. */
const BOOT_MS = 240_000;

describe('one cloud with fake, libvirt and Docker compute hosts', { skip, timeout: 15 * 60_000 }, () => {
  const tag = randomBytes(3).toString('hex');
  const hosts = { fake: `mx-fake-${tag}`, qemu: `mx-qemu-${tag}`, docker: `mx-docker-${tag}` };
  let scratch: string;
  let instancesPath: string;
  let guestFile: string;
  let pg: TestPgDatabase;
  let d: Deployment;
  let admin: Session;
  const images: Record<'raw' | 'ami' | 'docker' | 'vmdk', string> = { raw: '', ami: '', docker: '', vmdk: '' };
  const imageIds: string[] = [];
  const servers: Record<string, ServerView> = {};

  const upload = async (name: string, file: string, fields: Record<string, string>): Promise<string> => {
    const r = await api(admin, 'POST', `${d.urls.image}/v2/images`, { name, visibility: 'public', ...fields });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    const put = await api(admin, 'PUT', `${d.urls.image}/v2/images/${r.body.id}/file`, readFileSync(file), { 'content-type': 'application/octet-stream' });
    assert.equal(put.status, 204, JSON.stringify(put.body));
    imageIds.push(String(r.body.id));
    return String(r.body.id);
  };
  const consoleOf = async (id: string): Promise<string> => {
    const r = await api(admin, 'POST', `${d.urls.compute}/v2.1/servers/${id}/action`, { 'os-getConsoleOutput': {} }, MV);
    return r.status === 200 ? String(r.body.output) : '';
  };
  const boot = async (name: string, imageRef: string): Promise<ServerView> => {
    const r = await api(admin, 'POST', `${d.urls.compute}/v2.1/servers`, { server: { name, imageRef, flavorRef: 'mx.small', networks: 'none' } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const [s] = await waitSettled(d, admin, [String(r.body.server.id)], BOOT_MS);
    return s!;
  };

  before(async () => {
    scratch = mkdtempSync(join(tmpdir(), 'orrery-mixed-'));
    chmodSync(scratch, 0o755); // QEMU runs as libvirt-qemu and must reach the instance files
    instancesPath = join(scratch, 'instances');
    guestFile = (await buildBusyboxImage()).path;
    pg = await createPgDatabase();
    d = await startDeployment({
      brokerUrl: RABBIT_URL, databaseUrl: pg.url, conductors: 1, schedulers: 1,
      computes: [
        { host: hosts.fake, env: { ORRERY_COMPUTE_DRIVER: 'fake', ORRERY_FAKE__IMAGE_FORMATS: 'raw' } },
        {
          host: hosts.qemu,
          env: {
            ORRERY_COMPUTE_DRIVER: 'libvirt', ORRERY_LIBVIRT__CONNECTION_URI: LIBVIRT_URI, ORRERY_LIBVIRT__VIRT_TYPE: 'qemu',
            ORRERY_LIBVIRT__INSTANCES_PATH: instancesPath, ORRERY_LIBVIRT__IMAGE_CACHE_MANAGER_INTERVAL: '0',
            // raw is the fake host's: this host declares the rest of what it boots
            ORRERY_LIBVIRT__IMAGE_FORMATS: 'qcow2,ami',
          },
        },
        { host: hosts.docker, env: { ORRERY_COMPUTE_DRIVER: 'docker', ORRERY_DOCKER__SOCKET: dockerSocket() } },
      ],
    });
    admin = await loginTo(d.urls.identity);
    const f = await api(admin, 'POST', `${d.urls.compute}/v2.1/flavors`, { flavor: { id: 'mx.small', name: 'mx.small', ram: 128, vcpus: 1, disk: 1 } }, MV);
    assert.equal(f.status, 200, JSON.stringify(f.body));

    images.raw = await seededImage(d, admin);
    const files = buildTestImage();
    const kernel = await upload(`mx-kernel-${tag}`, files.kernel, { disk_format: 'aki', container_format: 'aki' });
    const ramdisk = await upload(`mx-ramdisk-${tag}`, files.ramdisk, { disk_format: 'ari', container_format: 'ari' });
    images.ami = await upload(`mx-guest-${tag}`, files.disk, {
      disk_format: 'ami', container_format: 'ami', kernel_id: kernel, ramdisk_id: ramdisk, os_command_line: 'console=ttyS0 quiet',
    });
    images.docker = await upload(`mx-busybox-${tag}`, guestFile, { disk_format: 'raw', container_format: 'docker' });
    const odd = join(scratch, 'odd.vmdk');
    writeFileSync(odd, Buffer.alloc(4096));
    images.vmdk = await upload(`mx-vmdk-${tag}`, odd, { disk_format: 'vmdk', container_format: 'bare' });

    // All three hosts up before the first request: otherwise a missing one looks like "No valid host".
    await waitFor('three hypervisors', async () => {
      const hv = await api(admin, 'GET', `${d.urls.compute}/v2.1/os-hypervisors/detail`, undefined, MV);
      return hv.body.hypervisors?.length === 3 ? true : undefined;
    }, 60_000);
  });

  after(async () => {
    if (d && admin) {
      for (const s of Object.values(servers)) await api(admin, 'DELETE', `${d.urls.compute}/v2.1/servers/${s.id}`);
      await waitFor('the servers to be gone', async () => {
        const r = await api(admin, 'GET', `${d.urls.compute}/v2.1/servers`, undefined, MV);
        return r.body.servers.length === 0 ? true : undefined;
      }, 120_000).catch(() => undefined);
      for (const id of imageIds) await api(admin, 'DELETE', `${d.urls.image}/v2/images/${id}`);
    }
    await d?.stop();
    await pg?.drop();
    removeDomainsOf(hosts.qemu);
    if (scratch) rmSync(scratch, { recursive: true, force: true });
  });

  it('reports each host with its own hypervisor type and image type traits', async () => {
    // 2.53: a hypervisor's id is its node's uuid, which is its resource provider's.
    const hv = await api(admin, 'GET', `${d.urls.compute}/v2.1/os-hypervisors/detail`, undefined, { 'openstack-api-version': 'compute 2.53' });
    const byHost = new Map<string, { hypervisor_type: string; id: string }>(hv.body.hypervisors.map((h: { service: { host: string } }) => [h.service.host, h]));
    assert.equal(byHost.get(hosts.qemu)?.hypervisor_type, 'QEMU');
    const imageTraits = async (host: string): Promise<string[]> => {
      const node = byHost.get(host);
      assert.ok(node, `no hypervisor of ${host}`);
      const t = await api(admin, 'GET', `${d.urls.placement}/resource_providers/${node.id}/traits`, undefined, { 'openstack-api-version': 'placement 1.6' });
      assert.equal(t.status, 200, JSON.stringify(t.body));
      return (t.body.traits as string[]).filter((x) => x.startsWith('COMPUTE_IMAGE_TYPE_'));
    };
    assert.deepEqual(await imageTraits(hosts.fake), ['COMPUTE_IMAGE_TYPE_RAW']);
    assert.deepEqual(await imageTraits(hosts.qemu), ['COMPUTE_IMAGE_TYPE_AMI', 'COMPUTE_IMAGE_TYPE_QCOW2']);
    assert.deepEqual(await imageTraits(hosts.docker), ['COMPUTE_IMAGE_TYPE_DOCKER']);
  });

  it('boots the ami image on the libvirt host, the docker image on the Docker host and the raw image on the fake one', async () => {
    const [qemu, docker, fake] = await Promise.all([boot(`mx-vm-${tag}`, images.ami), boot(`mx-ct-${tag}`, images.docker), boot(`mx-fk-${tag}`, images.raw)]);
    Object.assign(servers, { qemu, docker, fake });
    for (const s of [qemu!, docker!, fake!]) assert.equal(s.status, 'ACTIVE', `${s.name}: ${JSON.stringify(s.fault)}`);
    assert.equal(qemu!['OS-EXT-SRV-ATTR:host'], hosts.qemu);
    assert.equal(docker!['OS-EXT-SRV-ATTR:host'], hosts.docker);
    assert.equal(fake!['OS-EXT-SRV-ATTR:host'], hosts.fake);
    // Really running where they landed: a container and a QEMU guest, each printing its marker.
    await waitFor('the container\'s marker', async () => ((await consoleOf(docker!.id)).includes(CONTAINER_MARKER) ? true : undefined), 60_000);
    assert.equal(containersOf([docker!.id]).length, 1);
    await waitFor('the guest\'s boot marker', async () => ((await consoleOf(qemu!.id)).includes(BOOT_MARKER) ? true : undefined), BOOT_MS);
  });

  it('refuses an image no host can boot with "No valid host"', async () => {
    const s = await boot(`mx-odd-${tag}`, images.vmdk);
    servers.odd = s;
    assert.equal(s.status, 'ERROR');
    assert.match(s.fault?.message ?? '', /No valid host/);
  });

  it('deletes them all, leaving no domain, container or image of theirs behind', async () => {
    const ids = Object.values(servers).map((s) => s.id);
    for (const id of ids) assert.equal((await api(admin, 'DELETE', `${d.urls.compute}/v2.1/servers/${id}`)).status, 204);
    await waitFor('the servers to be gone', async () => {
      const r = await api(admin, 'GET', `${d.urls.compute}/v2.1/servers`, undefined, MV);
      return r.body.servers.length === 0 ? true : undefined;
    }, 120_000);
    for (const k of Object.keys(servers)) delete servers[k];
    assert.deepEqual(libvirtLeftovers(hosts.qemu, instancesPath), []);
    assert.deepEqual(containersOf(ids), []);
    for (const id of imageIds) await api(admin, 'DELETE', `${d.urls.image}/v2/images/${id}`);
    // By this host's cache tags, not the image's id: other tests on the shared daemon load the same busybox image.
    await waitFor('the daemon to let the image go', async () => (imagesOf([], [images.docker!, cacheTagPrefix(hosts.docker)]).length === 0 ? true : undefined), 30_000);
  });
});
