import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/**
 * Server-group policies held by the scheduler under concurrency, on SQLite and on PostgreSQL:
 * ten compute hosts of one fake node each, every node with room for many servers, so that only
 * the group's policy can refuse a host.
 */

const HOSTS = Array.from({ length: 10 }, (_, i) => `gh${String(i + 1).padStart(2, '0')}`);
const MV = { 'openstack-api-version': 'compute 2.64' };

interface Server { id: string; status: string; 'OS-EXT-SRV-ATTR:host'?: string | null; fault?: { message: string } }

for (const kind of ['sqlite', 'postgresql'] as const) {
  describe(`server-group placement on ${kind}`, { skip: kind === 'postgresql' ? pgSkip : false }, () => {
    let pg: TestPgDatabase | undefined;
    let cloud: TestCloud;
    let admin: Session;
    let imageId = '';
    const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;

    before(async () => {
      if (kind === 'postgresql') pg = await createPgDatabase();
      cloud = await startTestCloud({
        DEFAULT: { compute_hosts: HOSTS.join(',') },
        fake: { memory_mb: String(64 * 1024), vcpus: '128', disk_gb: '2000' },
        ...(pg ? { database: { connection: pg.url } } : {}),
      });
      admin = await login(cloud, 'admin', 'secret', 'admin');
      imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
      const q = await api(admin, 'PUT', compute(`/os-quota-sets/${admin.projectId}`), { quota_set: { instances: 100, cores: 200, ram: 200 * 1024 } });
      assert.equal(q.status, 200, JSON.stringify(q.body));
      await waitFor('10 hypervisors', async () => {
        const hv = await api(admin, 'GET', compute('/os-hypervisors'));
        return hv.body.hypervisors?.length === 10 ? true : undefined;
      });
    });
    after(async () => {
      await cloud?.close();
      await pg?.drop();
    });

    const createGroup = async (policy: string, rules?: Record<string, unknown>): Promise<string> => {
      const r = await api(admin, 'POST', compute('/os-server-groups'), { server_group: { name: `g-${policy}`, policy, ...(rules ? { rules } : {}) } }, MV);
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.server_group.id;
    };
    const boot = (name: string, group: string) => api(admin, 'POST', compute('/servers'), {
      server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' }, 'os:scheduler_hints': { group },
    }, MV);
    const settled = (ids: string[]) => waitFor(`${ids.length} servers to settle`, async () => {
      const all = await Promise.all(ids.map((id) => api<{ server: Server }>(admin, 'GET', compute(`/servers/${id}`), undefined, MV)));
      const list = all.map((r) => r.body.server);
      return list.every((s) => s.status === 'ACTIVE' || s.status === 'ERROR') ? list : undefined;
    }, 60_000);
    const cleanUp = async (ids: string[]) => {
      await Promise.all(ids.map((id) => api(admin, 'DELETE', compute(`/servers/${id}`))));
      await waitFor('servers gone', async () => {
        const r = await api(admin, 'GET', compute('/servers'));
        return r.body.servers.length === 0 ? true : undefined;
      }, 60_000);
    };

    it('20 parallel boots into an anti-affinity group on 10 hosts → 10 ACTIVE on 10 distinct hosts, 10 ERROR "No valid host"', async () => {
      const q = await api(admin, 'PUT', compute(`/os-quota-sets/${admin.projectId}`), { quota_set: { server_group_members: 20 } });
      assert.equal(q.status, 200);
      const group = await createGroup('anti-affinity');
      const boots = await Promise.all(Array.from({ length: 20 }, (_, i) => boot(`anti-${i}`, group)));
      assert.deepEqual(boots.map((r) => r.status), Array(20).fill(202), JSON.stringify(boots.find((r) => r.status !== 202)?.body));
      const ids = boots.map((r) => r.body.server.id as string);
      const servers = await settled(ids);
      const active = servers.filter((s) => s.status === 'ACTIVE');
      const errors = servers.filter((s) => s.status === 'ERROR');
      assert.equal(active.length, 10);
      assert.equal(new Set(active.map((s) => s['OS-EXT-SRV-ATTR:host'])).size, 10, 'two members share a host');
      assert.equal(errors.length, 10);
      for (const e of errors) assert.match(e.fault!.message, /No valid host/);
      const shown = await api(admin, 'GET', compute(`/os-server-groups/${group}`), undefined, MV);
      assert.deepEqual([...shown.body.server_group.members].sort(), [...ids].sort());
      await cleanUp(ids);
    });

    it('max_server_per_host 2: 20 parallel boots → all ACTIVE, exactly two per host', async () => {
      const group = await createGroup('anti-affinity', { max_server_per_host: 2 });
      const boots = await Promise.all(Array.from({ length: 20 }, (_, i) => boot(`anti2-${i}`, group)));
      const ids = boots.map((r) => r.body.server.id as string);
      const servers = await settled(ids);
      assert.deepEqual(servers.map((s) => s.status), Array(20).fill('ACTIVE'));
      const perHost = new Map<string, number>();
      for (const s of servers) perHost.set(s['OS-EXT-SRV-ATTR:host']!, (perHost.get(s['OS-EXT-SRV-ATTR:host']!) ?? 0) + 1);
      assert.deepEqual([...perHost.values()], Array(10).fill(2));
      await cleanUp(ids);
    });

    it('affinity: 10 parallel boots all land on one host', async () => {
      const group = await createGroup('affinity');
      const boots = await Promise.all(Array.from({ length: 10 }, (_, i) => boot(`aff-${i}`, group)));
      const ids = boots.map((r) => r.body.server.id as string);
      const servers = await settled(ids);
      assert.deepEqual(servers.map((s) => s.status), Array(10).fill('ACTIVE'));
      assert.equal(new Set(servers.map((s) => s['OS-EXT-SRV-ATTR:host'])).size, 1);
      await cleanUp(ids);
    });

    it('soft-anti-affinity spreads 10 sequential boots over 10 hosts; soft-affinity keeps them on one', async () => {
      for (const [policy, hosts] of [['soft-anti-affinity', 10], ['soft-affinity', 1]] as const) {
        const group = await createGroup(policy);
        const ids: string[] = [];
        for (let i = 0; i < 10; i++) {
          const r = await boot(`${policy}-${i}`, group);
          assert.equal(r.status, 202);
          ids.push(r.body.server.id);
          await settled([r.body.server.id]);
        }
        const servers = await settled(ids);
        assert.deepEqual(servers.map((s) => s.status), Array(10).fill('ACTIVE'));
        assert.equal(new Set(servers.map((s) => s['OS-EXT-SRV-ATTR:host'])).size, hosts, policy);
        await cleanUp(ids);
      }
    });

    it('with the default server_group_members quota (10) the 11th member is refused with 403', async () => {
      const q = await api(admin, 'PUT', compute(`/os-quota-sets/${admin.projectId}`), { quota_set: { server_group_members: 10 } });
      assert.equal(q.status, 200);
      const group = await createGroup('soft-anti-affinity');
      const boots = await Promise.all(Array.from({ length: 11 }, (_, i) => boot(`quota-${i}`, group)));
      const accepted = boots.filter((r) => r.status === 202);
      const refused = boots.filter((r) => r.status === 403);
      assert.equal(accepted.length, 10);
      assert.equal(refused.length, 1);
      assert.equal(refused[0]!.body.forbidden.message, 'Quota exceeded, too many servers in group');
      await settled(accepted.map((r) => r.body.server.id));
      await cleanUp(accepted.map((r) => r.body.server.id));
    });

    it('a hint naming a missing group is a 400 and creates nothing', async () => {
      const r = await boot('nogroup', '00000000-0000-4000-8000-000000000000');
      assert.equal(r.status, 400);
      assert.match(r.body.badRequest.message, /Instance group 00000000-0000-4000-8000-000000000000 could not be found/);
      const list = await api(admin, 'GET', compute('/servers'));
      assert.equal(list.body.servers.length, 0);
    });
  });
}
