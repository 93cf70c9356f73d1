import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/**
 * Whole-node servers: 40 fake nodes that are each one machine (CUSTOM_BAREMETAL_SMALL, total 1,
 * no standard classes) and a flavor asking for one of them and nothing else. 50 concurrent
 * boots → exactly 40 ACTIVE, one per node, 10 ERROR with "No valid host"; on both databases.
 */

const NODES = 40;
const BOOTS = 50;
const RC = 'CUSTOM_BAREMETAL_SMALL';
const MV = { 'openstack-api-version': 'compute 2.37' };

interface Server { id: string; status: string; fault?: { message: string }; 'OS-EXT-SRV-ATTR:hypervisor_hostname'?: string | null }

for (const db of ['sqlite', 'postgresql'] as const) {
  describe(`whole-node servers (${db})`, { skip: db === 'postgresql' ? pgSkip : false }, () => {
    let pg: TestPgDatabase | undefined;
    let cloud: TestCloud;
    let admin: Session;
    const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;
    const placement = (path: string) => api(admin, 'GET', `${cloud.urls.placement}${path}`, undefined, { 'openstack-api-version': 'placement latest' });

    before(async () => {
      pg = db === 'postgresql' ? await createPgDatabase() : undefined;
      cloud = await startTestCloud({
        ...(pg ? { database: { connection: pg.url } } : {}),
        // Two compute hosts of 20 whole machines each.
        DEFAULT: { compute_hosts: 'compute1,compute2' },
        fake: { nodes: String(NODES / 2), node_resource_class: RC, watch_interval_ms: '0' },
      });
      admin = await login(cloud, 'admin', 'secret', 'admin');
    });
    after(async () => {
      await cloud?.close();
      await pg?.drop();
    });

    it(`${BOOTS} concurrent boots of a one-node flavor on ${NODES} nodes → ${NODES} ACTIVE on distinct nodes, the rest "No valid host"`, async () => {
      const flavor = await api(admin, 'POST', compute('/flavors'), { flavor: { name: 'bm.small', ram: 1, vcpus: 1, disk: 0, id: 'bm-small' } });
      assert.equal(flavor.status, 200);
      const specs = await api(admin, 'POST', compute('/flavors/bm-small/os-extra_specs'), {
        extra_specs: { [`resources:${RC}`]: '1', 'resources:VCPU': '0', 'resources:MEMORY_MB': '0', 'resources:DISK_GB': '0' },
      });
      assert.equal(specs.status, 200);
      const quota = await api(admin, 'PUT', compute(`/os-quota-sets/${admin.projectId}`), { quota_set: { instances: 100, cores: 200, ram: 100 * 1024 } });
      assert.equal(quota.status, 200);
      const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
      const imageRef = images.body.images[0].id;

      const posts = await Promise.all(Array.from({ length: BOOTS }, (_, i) => api(admin, 'POST', compute('/servers'), {
        server: { name: `bm${i}`, imageRef, flavorRef: 'bm-small', networks: 'none' },
      }, MV)));
      assert.deepEqual(posts.map((r) => r.status), Array(BOOTS).fill(202));

      const servers = await waitFor('every boot to settle', async () => {
        const r = await api(admin, 'GET', compute('/servers/detail'), undefined, MV);
        const list = r.body.servers as Server[];
        return list.length === BOOTS && list.every((s) => s.status === 'ACTIVE' || s.status === 'ERROR') ? list : undefined;
      }, 60_000);
      const active = servers.filter((s) => s.status === 'ACTIVE');
      const errors = servers.filter((s) => s.status === 'ERROR');
      assert.equal(active.length, NODES);
      assert.equal(new Set(active.map((s) => s['OS-EXT-SRV-ATTR:hypervisor_hostname'])).size, NODES, 'one server per node');
      assert.equal(errors.length, BOOTS - NODES);
      for (const e of errors) assert.match(e.fault?.message ?? '', /No valid host/);

      // Placement agrees: every node's one unit is used, by one consumer, and no standard class was taken.
      const providers = await placement('/resource_providers');
      assert.equal(providers.body.resource_providers.length, NODES);
      for (const p of providers.body.resource_providers as Array<{ uuid: string }>) {
        const usages = await placement(`/resource_providers/${p.uuid}/usages`);
        assert.deepEqual(usages.body.usages, { [RC]: 1 });
      }
      const free = await placement(`/resource_providers?resources=${RC}:1`);
      assert.deepEqual(free.body.resource_providers, []);
      const alloc = await placement(`/allocations/${active[0]!.id}`);
      assert.deepEqual(Object.values(alloc.body.allocations).map((a) => (a as { resources: unknown }).resources), [{ [RC]: 1 }]);
      const classes = await placement('/resource_classes');
      assert.ok(classes.body.resource_classes.some((c: { name: string }) => c.name === RC), 'the reported class is known to placement');

      // Deleting one server frees its node for the next boot.
      assert.equal((await api(admin, 'DELETE', compute(`/servers/${active[0]!.id}`))).status, 204);
      await waitFor('the freed node', async () => ((await placement(`/resource_providers?resources=${RC}:1`)).body.resource_providers.length === 1 ? true : undefined));
      const again = await api(admin, 'POST', compute('/servers'), { server: { name: 'bm-again', imageRef, flavorRef: 'bm-small', networks: 'none' } }, MV);
      assert.equal(again.status, 202);
      const placed = await waitFor('the new boot', async () => {
        const s = (await api(admin, 'GET', compute(`/servers/${again.body.server.id}`), undefined, MV)).body.server as Server;
        return s.status === 'ACTIVE' || s.status === 'ERROR' ? s : undefined;
      });
      assert.equal(placed.status, 'ACTIVE');
      assert.equal(placed['OS-EXT-SRV-ATTR:hypervisor_hostname'], active[0]!['OS-EXT-SRV-ATTR:hypervisor_hostname']);
    });
  });
}
