import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/**
 * The API's moves end to end in the all-in-one on two fake compute hosts, with the conductor's
 * flows: what the API starts is what the flows run. Live migrations here never converge on their
 * own (`[fake] live_migration_converges = false`), so they stay running until forced or aborted:
 * that is when /servers/{id}/migrations shows them, with their progress. On SQLite, and on
 * PostgreSQL when there is one.
 */
for (const db of ['sqlite', 'postgresql'] as const) describe(`server moves through the whole cloud (fake driver, two hosts, ${db})`, { skip: db === 'postgresql' ? pgSkip : false }, () => {
  let pg: TestPgDatabase | undefined;
  let cloud: TestCloud;
  let admin: Session;
  let imageId = '';
  const compute = (path: string): string => `${cloud.urls.compute}/v2.1${path}`;
  const MV = { 'openstack-api-version': 'compute 2.80' };

  before(async () => {
    if (db === 'postgresql') pg = await createPgDatabase();
    cloud = await startTestCloud({
      ...(pg ? { database: { connection: pg.url, max_pool_size: '4' } } : {}),
      DEFAULT: { compute_hosts: 'compute1,compute2' },
      fake: { live_migration_ms: '400', live_migration_converges: 'false' },
    });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    imageId = (await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
  });
  after(async () => {
    await cloud?.close();
    await pg?.drop();
  });

  const show = async (id: string) => (await api(admin, 'GET', compute(`/servers/${id}`), undefined, MV)).body.server;
  const until = (id: string, status: string, timeoutMs = 20_000) =>
    waitFor(`${id} ${status}`, async () => ((await show(id))?.status === status ? true : undefined), timeoutMs);
  const act = (id: string, body: unknown) => api(admin, 'POST', compute(`/servers/${id}/action`), body, MV);
  const boot = async (name: string): Promise<string> => {
    const r = await api(admin, 'POST', compute('/servers'), { server: { name, imageRef: imageId, flavorRef: '1', networks: 'none' } }, MV);
    assert.equal(r.status, 202, JSON.stringify(r.body));
    await until(r.body.server.id, 'ACTIVE');
    return r.body.server.id;
  };
  const migrationsOf = async (id: string) => (await api(admin, 'GET', compute(`/os-migrations?instance_uuid=${id}`), undefined, MV)).body.migrations;
  const hostOf = async (id: string): Promise<string> => (await show(id))['OS-EXT-SRV-ATTR:host'];

  it('resize → VERIFY_RESIZE with the new flavor → confirm → ACTIVE; os-migrations has it confirmed', async () => {
    const id = await boot('resize-me');
    const res = await act(id, { resize: { flavorRef: '42' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await until(id, 'VERIFY_RESIZE');
    assert.equal((await show(id)).flavor.original_name, 'm1.nano');
    const confirm = await act(id, { confirmResize: null });
    assert.equal(confirm.status, 204, JSON.stringify(confirm.body));
    await until(id, 'ACTIVE');
    await waitFor('confirmed', async () => ((await migrationsOf(id))[0]?.status === 'confirmed' ? true : undefined));
    const [m] = await migrationsOf(id);
    assert.equal(m.migration_type, 'resize');
    assert.equal(m.user_id, admin.userId);
    assert.notEqual(m.old_instance_type_id, m.new_instance_type_id);
    const actions = (await api(admin, 'GET', compute(`/servers/${id}/os-instance-actions`))).body.instanceActions.map((a: { action: string }) => a.action);
    assert.deepEqual([...actions].sort(), ['confirmResize', 'create', 'resize']);
  });

  it('migrate (2.56 to the other host) → revert → ACTIVE back where it was, with its flavor', async () => {
    const id = await boot('migrate-me');
    const from = await hostOf(id);
    const to = from === 'compute1' ? 'compute2' : 'compute1';
    const res = await act(id, { migrate: { host: to } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    await until(id, 'VERIFY_RESIZE');
    assert.equal(await hostOf(id), to);
    assert.equal((await act(id, { revertResize: null })).status, 202);
    await until(id, 'ACTIVE');
    assert.equal(await hostOf(id), from);
    assert.equal((await show(id)).flavor.original_name, 'm1.tiny');
    await waitFor('reverted', async () => ((await migrationsOf(id))[0]?.status === 'reverted' ? true : undefined));
  });

  it('live migration: running in /servers/{id}/migrations with progress; force_complete ends it on the other host', async () => {
    const id = await boot('live-me');
    const from = await hostOf(id);
    const res = await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto' } });
    assert.equal(res.status, 202, JSON.stringify(res.body));
    const running = await waitFor('a running live migration', async () => {
      const list = (await api(admin, 'GET', compute(`/servers/${id}/migrations`), undefined, MV)).body.migrations;
      return list?.[0]?.status === 'running' && list[0].memory_total_bytes !== null ? list[0] : undefined;
    });
    assert.equal((await show(id)).status, 'MIGRATING');
    assert.ok(running.memory_total_bytes > 0, JSON.stringify(running));
    const shown = await api(admin, 'GET', compute(`/servers/${id}/migrations/${running.id}`), undefined, MV);
    assert.equal(shown.status, 200);
    assert.equal(shown.body.migration.uuid, running.uuid);
    const forced = await api(admin, 'POST', compute(`/servers/${id}/migrations/${running.id}/action`), { force_complete: null }, MV);
    assert.equal(forced.status, 202, JSON.stringify(forced.body));
    await until(id, 'ACTIVE');
    assert.notEqual(await hostOf(id), from);
    await waitFor('completed', async () => ((await migrationsOf(id))[0]?.status === 'completed' ? true : undefined));
    assert.equal((await api(admin, 'GET', compute(`/servers/${id}/migrations/${running.id}`), undefined, MV)).status, 404, 'no longer in progress');
  });

  it('live migration aborted (DELETE): back ACTIVE on its host, the migration cancelled', async () => {
    const id = await boot('abort-me');
    const from = await hostOf(id);
    assert.equal((await act(id, { 'os-migrateLive': { host: null, block_migration: 'auto' } })).status, 202);
    const running = await waitFor('a running live migration', async () => {
      const list = (await api(admin, 'GET', compute(`/servers/${id}/migrations`), undefined, MV)).body.migrations;
      return list?.[0]?.status === 'running' ? list[0] : undefined;
    });
    const del = await api(admin, 'DELETE', compute(`/servers/${id}/migrations/${running.id}`), undefined, MV);
    assert.equal(del.status, 202, JSON.stringify(del.body));
    await until(id, 'ACTIVE');
    assert.equal(await hostOf(id), from);
    const status = await waitFor('the migration ended', async () => {
      const s = (await migrationsOf(id))[0]?.status as string | undefined;
      return s && !['cancelling', 'running', 'preparing', 'queued', 'accepted'].includes(s) ? s : undefined;
    });
    assert.equal(status, 'cancelled');
  });
  it('os-migrations 2.59 pages over the records the moves left: newest first, each once', async () => {
    const all = (await api(admin, 'GET', compute('/os-migrations'), undefined, MV)).body.migrations as Array<{ uuid: string; created_at: string }>;
    assert.ok(all.length >= 4, `${all.length} migrations`);
    const seen: string[] = [];
    let url = compute('/os-migrations?limit=1');
    for (let i = 0; i <= all.length; i++) {
      const page = await api(admin, 'GET', url, undefined, MV);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      seen.push(...page.body.migrations.map((m: { uuid: string }) => m.uuid));
      const next = page.body.migrations_links?.[0]?.href as string | undefined;
      if (!next) break;
      url = next;
    }
    assert.deepEqual(seen, all.map((m) => m.uuid));
    const created = all.map((m) => m.created_at);
    assert.deepEqual(created, [...created].sort().reverse());
  });
});
