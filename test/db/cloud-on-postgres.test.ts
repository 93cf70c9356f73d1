import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { isPostgres } from '../../src/db/connection.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/**
 * The whole all-in-one (identity, image, compute APIs, conductor, scheduler, two computes) on
 * PostgreSQL, with a deliberately small connection pool, driven through its public APIs.
 */

const MV = { 'openstack-api-version': 'compute 2.37' };

interface Server { id: string; name: string; status: string; 'OS-EXT-SRV-ATTR:host'?: string; fault?: { message: string } }

describe('the all-in-one on PostgreSQL', { skip: pgSkip }, () => {
  let pg: TestPgDatabase;
  let cloud: TestCloud;
  let admin: Session;
  let imageId = '';
  const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;

  before(async () => {
    pg = await createPgDatabase();
    cloud = await startTestCloud({ database: { connection: pg.url, max_pool_size: '4' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    imageId = images.body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
    await pg?.drop();
  });

  it('runs on PostgreSQL', () => {
    assert.equal(isPostgres(cloud.db), true);
  });

  it('sets a project quota', async () => {
    const r = await api(admin, 'PUT', compute(`/os-quota-sets/${admin.projectId}`), { quota_set: { instances: 12, cores: 40, key_pairs: 5 } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const shown = await api(admin, 'GET', compute(`/os-quota-sets/${admin.projectId}/detail`));
    assert.equal(shown.body.quota_set.instances.limit, 12);
    assert.equal(shown.body.quota_set.key_pairs.limit, 5);
  });

  it('boots 10 servers at once, all ACTIVE, and 3 more are over the quota', async () => {
    const boots = await Promise.all(Array.from({ length: 10 }, (_, i) => api(admin, 'POST', compute('/servers'), {
      server: { name: `pg-${String(i).padStart(2, '0')}`, imageRef: imageId, flavorRef: '1', networks: 'none', metadata: { n: String(i) } },
    }, MV)));
    assert.deepEqual(boots.map((r) => r.status), Array(10).fill(202), JSON.stringify(boots.find((r) => r.status !== 202)?.body));
    const over = await api(admin, 'POST', compute('/servers'), {
      server: { name: 'too-many', imageRef: imageId, flavorRef: '1', networks: 'none', min_count: 3 },
    }, MV);
    assert.equal(over.status, 403);
    assert.match(over.body.forbidden.message, /Quota exceeded for instances/);

    const servers = await waitFor('10 servers ACTIVE', async () => {
      const r = await api<{ servers: Server[] }>(admin, 'GET', compute('/servers/detail'), undefined, MV);
      const list = r.body.servers;
      assert.ok(!list.some((s) => s.status === 'ERROR'), JSON.stringify(list.find((s) => s.status === 'ERROR')?.fault));
      return list.length === 10 && list.every((s) => s.status === 'ACTIVE') ? list : undefined;
    });
    assert.deepEqual(new Set(servers.map((s) => s['OS-EXT-SRV-ATTR:host'])), new Set(['compute1', 'compute2']), 'spread over both hosts');
  });

  it('lists with filters, sorts and marker pages', async () => {
    const names = (r: { body: { servers: Server[] } }): string[] => r.body.servers.map((s) => s.name);
    // the name filter is a Python regular expression (re.search: case-sensitive unless (?i)), on both databases
    const ci = await api(admin, 'GET', compute(`/servers?name=${encodeURIComponent('(?i)PG-0')}&sort_key=display_name&sort_dir=asc`), undefined, MV);
    assert.equal(ci.body.servers.length, 10);
    assert.equal((await api(admin, 'GET', compute('/servers?name=PG-0'), undefined, MV)).body.servers.length, 0);
    const active = await api(admin, 'GET', compute('/servers/detail?status=ACTIVE&host=compute1'), undefined, MV);
    assert.ok(active.body.servers.length > 0 && active.body.servers.every((s: Server) => s['OS-EXT-SRV-ATTR:host'] === 'compute1'));

    const pages: string[] = [];
    let url = compute('/servers?limit=3&sort_key=display_name&sort_dir=desc');
    for (;;) {
      const page = await api(admin, 'GET', url, undefined, MV);
      assert.equal(page.status, 200);
      pages.push(...names(page));
      const next = (page.body.servers_links as Array<{ rel: string; href: string }> | undefined)?.find((l) => l.rel === 'next');
      if (!next) break;
      url = next.href;
    }
    assert.deepEqual(pages, Array.from({ length: 10 }, (_, i) => `pg-${String(9 - i).padStart(2, '0')}`));
  });

  it('stops and starts a server', async () => {
    const list = await api(admin, 'GET', compute('/servers?name=^pg-03$'), undefined, MV);
    const id = list.body.servers[0].id as string;
    const status = async (want: string) => waitFor(`pg-03 ${want}`, async () => {
      const r = await api(admin, 'GET', compute(`/servers/${id}`), undefined, MV);
      return r.body.server.status === want && r.body.server['OS-EXT-STS:task_state'] === null ? r.body.server : undefined;
    });
    assert.equal((await api(admin, 'POST', compute(`/servers/${id}/action`), { 'os-stop': null }, MV)).status, 202);
    await status('SHUTOFF');
    assert.equal((await api(admin, 'POST', compute(`/servers/${id}/action`), { 'os-start': null }, MV)).status, 202);
    await status('ACTIVE');
    const actions = await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions`), undefined, MV);
    assert.deepEqual(actions.body.instanceActions.map((a: { action: string }) => a.action), ['start', 'stop', 'create']);
  });

  it('answers os-hypervisors, os-services and os-availability-zone', async () => {
    const hv = await api(admin, 'GET', compute('/os-hypervisors/detail'), undefined, MV);
    assert.equal(hv.status, 200);
    assert.equal(hv.body.hypervisors.length, 2);
    assert.equal(hv.body.hypervisors.reduce((n: number, h: { running_vms: number }) => n + h.running_vms, 0), 10);
    for (const h of hv.body.hypervisors) {
      assert.equal(typeof h.running_vms, 'number');
      assert.equal(typeof h.memory_mb_used, 'number');
      assert.equal(h.state, 'up');
    }
    const stats = await api(admin, 'GET', compute('/os-hypervisors/statistics'), undefined, MV);
    assert.equal(stats.body.hypervisor_statistics.running_vms, 10);
    assert.equal(stats.body.hypervisor_statistics.count, 2);

    const services = await api(admin, 'GET', compute('/os-services'), undefined, MV);
    const binaries = services.body.services.map((s: { binary: string; state: string }) => `${s.binary}:${s.state}`).sort();
    assert.deepEqual(binaries, ['nova-compute:up', 'nova-compute:up', 'nova-conductor:up', 'nova-scheduler:up']);

    const zones = await api(admin, 'GET', compute('/os-availability-zone'), undefined, MV);
    assert.deepEqual(zones.body.availabilityZoneInfo.map((z: { zoneName: string }) => z.zoneName), ['nova']);
  });

  it('creates key pairs up to the quota', async () => {
    const made = await Promise.all(Array.from({ length: 7 }, (_, i) => api(admin, 'POST', compute('/os-keypairs'), { keypair: { name: `kp${i}` } }, MV)));
    assert.equal(made.filter((r) => r.status === 201).length, 5, JSON.stringify(made.map((r) => r.status)));
    assert.equal(made.filter((r) => r.status === 403).length, 2);
    const dup = await api(admin, 'POST', compute('/os-keypairs'), { keypair: { name: 'kp0' } }, MV);
    assert.ok(dup.status === 409 || dup.status === 403, String(dup.status));
    const list = await api(admin, 'GET', compute('/os-keypairs'), undefined, MV);
    assert.equal(list.body.keypairs.length, 5);
  });

  it('creates a flavor, merges its extra specs and refuses a duplicate name', async () => {
    const f = await api(admin, 'POST', compute('/flavors'), { flavor: { name: 'pg.small', ram: 256, vcpus: 1, disk: 1, id: 'pg-small', rxtx_factor: 1.5 } }, MV);
    assert.equal(f.status, 200, JSON.stringify(f.body));
    assert.equal(f.body.flavor.rxtx_factor, 1.5);
    const specs = await api(admin, 'POST', compute('/flavors/pg-small/os-extra_specs'), { extra_specs: { 'hw:cpu_policy': 'shared', 'trait:CUSTOM_PG': 'required' } }, MV);
    assert.equal(specs.status, 200);
    const again = await api(admin, 'POST', compute('/flavors/pg-small/os-extra_specs'), { extra_specs: { 'hw:cpu_policy': 'dedicated' } }, MV);
    assert.equal(again.status, 200);
    const shown = await api(admin, 'GET', compute('/flavors/pg-small/os-extra_specs'), undefined, MV);
    assert.deepEqual(shown.body.extra_specs, { 'hw:cpu_policy': 'dedicated', 'trait:CUSTOM_PG': 'required' });
    const dup = await api(admin, 'POST', compute('/flavors'), { flavor: { name: 'pg.small', ram: 256, vcpus: 1, disk: 1 } }, MV);
    assert.equal(dup.status, 409);
  });

  it('creates an image and uploads its data', async () => {
    const data = randomBytes(300_000);
    const img = await api(admin, 'POST', `${cloud.urls.image}/v2/images`, {
      name: 'pg-image', disk_format: 'raw', container_format: 'bare', visibility: 'private', tags: ['Pg'], os_distro: 'cirros',
    });
    assert.equal(img.status, 201, JSON.stringify(img.body));
    const put = await fetch(`${cloud.urls.image}/v2/images/${img.body.id}/file`, {
      method: 'PUT', headers: { 'x-auth-token': admin.token, 'content-type': 'application/octet-stream' }, body: data,
    });
    assert.equal(put.status, 204);
    const shown = await api(admin, 'GET', `${cloud.urls.image}/v2/images/${img.body.id}`);
    assert.equal(shown.body.status, 'active');
    assert.equal(shown.body.size, data.length, 'a bigint column comes back as a number');
    assert.equal(shown.body.checksum, createHash('md5').update(data).digest('hex'));
    const listed = await api(admin, 'GET', `${cloud.urls.image}/v2/images?tag=Pg&size_min=${data.length}&os_distro=cirros`);
    assert.deepEqual(listed.body.images.map((i: { id: string }) => i.id), [img.body.id]);
    const got = await fetch(`${cloud.urls.image}/v2/images/${img.body.id}/file`, { headers: { 'x-auth-token': admin.token } });
    assert.deepEqual(Buffer.from(await got.arrayBuffer()), data);
  });

  it('deletes every server and gives the resources back', async () => {
    const list = await api(admin, 'GET', compute('/servers'), undefined, MV);
    const deletes = await Promise.all(list.body.servers.map((s: Server) => api(admin, 'DELETE', compute(`/servers/${s.id}`), undefined, MV)));
    assert.deepEqual(deletes.map((r) => r.status), Array(10).fill(204));
    await waitFor('all servers gone', async () => {
      const r = await api(admin, 'GET', compute('/servers'), undefined, MV);
      return r.body.servers.length === 0 ? true : undefined;
    });
    const deleted = await api(admin, 'GET', compute('/servers/detail?deleted=true&limit=20'), undefined, MV);
    assert.equal(deleted.body.servers.length, 10);
    await waitFor('resources released', async () => {
      const stats = await api(admin, 'GET', compute('/os-hypervisors/statistics'), undefined, MV);
      const s = stats.body.hypervisor_statistics;
      return s.running_vms === 0 && s.vcpus_used === 0 ? true : undefined;
    });
    const rows = await cloud.db.selectFrom('instances').select(['id', 'deleted']).execute();
    assert.ok(rows.length >= 10 && rows.every((r) => r.deleted === r.id), 'soft-deleted: deleted = id');
  });
});
