import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { adminLogin, call, memberOf, startServices, type Login, type Services } from '../identity/harness.js';
import { api, login as cloudLogin, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

const OCTETS = { 'content-type': 'application/octet-stream' };
const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const sha512 = (b: Uint8Array): string => createHash('sha512').update(b).digest('hex');

/** A qcow2 header (the first 104 bytes matter to the check), optionally naming a backing file or a data file. */
function qcow2(opts: { version?: number; backing?: boolean; dataFile?: boolean; virtualSize?: bigint } = {}): Buffer {
  const b = Buffer.alloc(4096);
  b.writeUInt32BE(0x514649fb, 0);
  b.writeUInt32BE(opts.version ?? 3, 4);
  if (opts.backing) { b.writeBigUInt64BE(512n, 8); b.writeUInt32BE(9, 16); b.write('/etc/shad', 512); }
  b.writeUInt32BE(16, 20); // cluster bits
  b.writeBigUInt64BE(opts.virtualSize ?? 1_073_741_824n, 24);
  if (opts.dataFile) b.writeBigUInt64BE(1n << 2n, 72);
  b.writeUInt32BE(104, 100); // header length
  return b;
}

describe('image import (glance-direct) and tasks', () => {
  let s: Services;
  let admin: Login;
  let alice: Login;
  let bob: Login;
  before(async () => {
    s = await startServices({ image: { image_size_cap: String(1024 * 1024) } });
    admin = await adminLogin(s);
    alice = await memberOf(s, admin, 'imp-a', 'imp-alice');
    bob = await memberOf(s, admin, 'imp-b', 'imp-bob');
  });
  after(async () => s.close());

  const url = (path: string): string => `${s.imageUrl}${path}`;
  const staging = (): string[] => {
    const dir = join(s.config.str('image', 'store_path'), 'staging');
    return existsSync(dir) ? readdirSync(dir) : [];
  };
  const create = async (who: Login, body: Record<string, unknown> = {}) => {
    const r = await call('POST', url('/v2/images'), { token: who.token, body: { disk_format: 'raw', container_format: 'bare', ...body } });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.headers.get('openstack-image-import-methods'), 'glance-direct');
    return r.body as { id: string };
  };
  const stage = async (who: Login, id: string, data: Uint8Array) => call('PUT', url(`/v2/images/${id}/stage`), { token: who.token, raw: data, headers: OCTETS });
  const importIt = async (who: Login, id: string, body: unknown = { method: { name: 'glance-direct' } }) =>
    call('POST', url(`/v2/images/${id}/import`), { token: who.token, body });
  const settled = async (who: Login, id: string): Promise<any> => {
    for (let i = 0; i < 200; i++) {
      const r = await call('GET', url(`/v2/images/${id}`), { token: who.token });
      if (r.body.status !== 'importing') return r.body;
      await delay(25);
    }
    throw new Error(`image ${id} stayed importing`);
  };

  it('announces glance-direct (only) and the file store, and Image API 2.8', async () => {
    const info = await call('GET', url('/v2/info/import'), { token: alice.token });
    assert.deepEqual(info.body, { 'import-methods': { description: 'Import methods available.', type: 'array', value: ['glance-direct'] } });
    const stores = await call('GET', url('/v2/info/stores'), { token: alice.token });
    assert.deepEqual(stores.body.stores.map((x: any) => [x.id, x.default]), [['file', true]]);
    assert.equal((await call('GET', url('/v2/info/stores/detail'), { token: alice.token })).status, 403);
    const detail = await call('GET', url('/v2/info/stores/detail'), { token: admin.token });
    assert.equal(detail.body.stores[0].type, 'file');
    assert.doesNotMatch(JSON.stringify(detail.body), new RegExp(s.stateDir));
    const versions = await call('GET', url('/versions'));
    assert.equal(versions.body.versions.find((v: any) => v.status === 'CURRENT').id, 'v2.8');
  });

  it('stages, imports to active with the checksum and hash of the data, and records the task', async () => {
    const data = randomBytes(300_000);
    const img = await create(alice, { name: 'imported' });
    // Not staged yet: glance-direct has nothing to import.
    const early = await importIt(alice, img.id);
    assert.equal(early.status, 409);
    assert.match(early.body.message, /needs to be staged/);
    assert.equal((await stage(alice, img.id, data)).status, 204);
    assert.equal((await call('GET', url(`/v2/images/${img.id}`), { token: alice.token })).body.status, 'uploading');
    assert.deepEqual(staging(), [img.id]);
    assert.equal((await stage(alice, img.id, data)).status, 409, 'staged once');
    assert.equal((await importIt(alice, img.id, { method: { name: 'web-download', uri: 'http://127.0.0.1:1/x' } })).status, 400);
    assert.equal((await importIt(alice, img.id, { method: { name: 'copy-image' } })).status, 400);
    assert.equal((await importIt(alice, img.id, { method: { name: 'glance-direct' }, stores: ['ceph'] })).status, 400);
    assert.equal((await importIt(bob, img.id)).status, 404, "another project's image is not found");
    const started = await importIt(alice, img.id, { method: { name: 'glance-direct' }, stores: ['file'] });
    assert.equal(started.status, 202, JSON.stringify(started.body));
    const done = await settled(alice, img.id);
    assert.equal(done.status, 'active');
    assert.equal(done.size, data.length);
    assert.equal(done.virtual_size, data.length);
    assert.equal(done.checksum, md5(data));
    assert.equal(done.os_hash_algo, 'sha512');
    assert.equal(done.os_hash_value, sha512(data));
    assert.equal(done.locations, undefined, 'locations stay hidden');
    assert.equal(done.direct_url, undefined);
    const file = await fetch(url(`/v2/images/${img.id}/file`), { headers: { 'x-auth-token': alice.token } });
    assert.ok(Buffer.from(await file.arrayBuffer()).equals(data));
    assert.deepEqual(staging(), [], 'the staged data is gone');

    const tasks = await call('GET', url(`/v2/images/${img.id}/tasks`), { token: alice.token });
    assert.equal(tasks.status, 200);
    assert.equal(tasks.body.tasks.length, 1);
    const t = tasks.body.tasks[0];
    assert.equal(t.type, 'api_image_import');
    assert.equal(t.status, 'success');
    assert.deepEqual(t.result, { image_id: img.id });
    assert.equal(t.image_id, img.id);
    assert.equal(t.user_id, alice.userId);
    assert.equal(t.owner, alice.projectId);
    assert.match(t.request_id, /^req-/);
    assert.deepEqual(t.input.import_req, { method: { name: 'glance-direct' }, stores: ['file'] });
    assert.ok(Date.parse(t.expires_at) > Date.now() + 47 * 3600_000);
    assert.equal((await call('GET', url(`/v2/images/${img.id}/tasks`), { token: bob.token })).status, 404);

    // The tasks API is an admin's.
    assert.equal((await call('GET', url('/v2/tasks'), { token: alice.token })).status, 403);
    const list = await call('GET', url('/v2/tasks?type=api_image_import&status=success'), { token: admin.token });
    assert.ok(list.body.tasks.some((x: any) => x.id === t.id));
    assert.equal(list.body.tasks[0].input, undefined, 'a list leaves out input and result');
    const shown = await call('GET', url(`/v2/tasks/${t.id}`), { token: admin.token });
    assert.deepEqual(shown.body.result, { image_id: img.id });
    assert.equal((await call('GET', url('/v2/tasks/nope'), { token: admin.token })).status, 404);
    assert.equal((await call('GET', url('/v2/tasks?status=bogus'), { token: admin.token })).status, 400);
    assert.equal((await stage(alice, img.id, data)).status, 409, 'an active image takes no staging');
  });

  it('fails an import whose data is not its disk_format, or a qcow2 that names another file: back to queued, nothing staged', async () => {
    const cases: Array<[string, Buffer, RegExp]> = [
      ['qcow2', randomBytes(2048), /not a qcow2 image/],
      ['raw', qcow2(), /is a qcow2 image, not raw/],
      ['qcow2', qcow2({ backing: true }), /backing file/],
      ['qcow2', qcow2({ dataFile: true }), /data file/],
    ];
    for (const [diskFormat, data, reason] of cases) {
      const img = await create(alice, { disk_format: diskFormat });
      assert.equal((await stage(alice, img.id, data)).status, 204);
      assert.equal((await importIt(alice, img.id)).status, 202);
      const after = await settled(alice, img.id);
      assert.equal(after.status, 'queued', `${diskFormat} ${reason}`);
      assert.equal(after.checksum, null);
      assert.deepEqual(staging(), []);
      const [task] = (await call('GET', url(`/v2/images/${img.id}/tasks`), { token: alice.token })).body.tasks;
      assert.equal(task.status, 'failure');
      assert.match(task.message, reason);
      // It can be staged again, with data that is what it says.
      if (diskFormat === 'qcow2') {
        assert.equal((await stage(alice, img.id, qcow2({ virtualSize: 5n << 30n }))).status, 204);
        assert.equal((await importIt(alice, img.id)).status, 202);
        const ok = await settled(alice, img.id);
        assert.equal(ok.status, 'active');
        assert.equal(ok.virtual_size, 5 * 2 ** 30);
      }
    }
  });

  it('refuses staging past the size cap, by a reader, of an invisible image; a deleted image takes its staged data', async () => {
    const img = await create(alice);
    const big = await stage(alice, img.id, randomBytes(1024 * 1024 + 1));
    assert.equal(big.status, 413);
    assert.equal((await call('GET', url(`/v2/images/${img.id}`), { token: alice.token })).body.status, 'queued');
    assert.deepEqual(staging(), []);
    assert.equal((await stage(bob, img.id, Buffer.from('x'))).status, 404);
    assert.equal((await call('PUT', url(`/v2/images/${img.id}/stage`), { token: alice.token, raw: 'x', headers: { 'content-type': 'text/plain' } })).status, 415);
    assert.equal((await stage(alice, img.id, Buffer.from('staged'))).status, 204);
    assert.deepEqual(staging(), [img.id]);
    assert.equal((await call('DELETE', url(`/v2/images/${img.id}`), { token: alice.token })).status, 204);
    await delay(50);
    assert.deepEqual(staging(), []);
  });

  it('fails an import whose process went away (no heartbeat for minutes), so the image can be staged again', async () => {
    const img = await create(alice);
    assert.equal((await stage(alice, img.id, Buffer.from('orphaned'))).status, 204);
    // What a process killed mid-import leaves: the image importing, its task processing, long silent.
    const old = new Date(Date.now() - 3600_000).toISOString();
    await s.db.updateTable('images').set({ status: 'importing' }).where('id', '=', img.id).execute();
    await s.db.insertInto('image_tasks').values({
      id: 'd2f4c1de-0000-4000-8000-000000000001', type: 'api_image_import', status: 'processing', owner: alice.projectId!, input: '{}', result: null,
      message: '', image_id: img.id, request_id: 'req-x', user_id: alice.userId, expires_at: null, created_at: old, updated_at: old,
    }).execute();
    // The next import (of any image) finds it.
    const other = await create(alice);
    assert.equal((await stage(alice, other.id, Buffer.from('fresh'))).status, 204);
    assert.equal((await importIt(alice, other.id)).status, 202);
    assert.equal((await settled(alice, other.id)).status, 'active');
    const orphan = await call('GET', url(`/v2/images/${img.id}`), { token: alice.token });
    assert.equal(orphan.body.status, 'queued');
    assert.ok(!staging().includes(img.id));
    const [task] = (await call('GET', url(`/v2/images/${img.id}/tasks`), { token: alice.token })).body.tasks;
    assert.equal(task.status, 'failure');
    assert.match(task.message, /went away/);
    assert.equal((await stage(alice, img.id, Buffer.from('again'))).status, 204);
  });

  it('refuses the legacy task import: Orrery fetches no URL a client names', async () => {
    const legacy = await call('POST', url('/v2/tasks'), { token: admin.token, body: { type: 'import', input: { import_from: 'http://127.0.0.1:1/img', import_from_format: 'raw', image_properties: {} } } });
    assert.equal(legacy.status, 400);
    assert.match(legacy.body.message, /interoperable image import/);
    assert.equal((await call('POST', url('/v2/tasks'), { token: admin.token, body: { type: 'bogus', input: {} } })).status, 400);
    assert.equal((await call('POST', url('/v2/tasks'), { token: admin.token, body: { type: 'api_image_import', input: {} } })).status, 403);
    assert.equal((await call('POST', url('/v2/tasks'), { token: alice.token, body: { type: 'import', input: {} } })).status, 403);
    assert.equal((await call('GET', url('/v2/schemas/task'), { token: alice.token })).body.name, 'task');
  });
});

for (const engine of ['sqlite', 'postgresql'] as const) {
  describe(`imports and their tasks in the whole cloud on ${engine}`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
    let pg: TestPgDatabase | undefined;
    let cloud: TestCloud;
    let admin: Session;
    before(async () => {
      if (engine === 'postgresql') pg = await createPgDatabase();
      cloud = await startTestCloud({ DEFAULT: { compute_hosts: '' }, ...(pg ? { database: { connection: pg.url } } : {}) });
      admin = await cloudLogin(cloud, 'admin', 'secret', 'admin');
    });
    after(async () => {
      await cloud?.close();
      await pg?.drop();
    });

    it('imports three images and pages through their tasks', async () => {
      const u = (p: string): string => `${cloud.urls.image}${p}`;
      const ids: string[] = [];
      for (let i = 0; i < 3; i++) {
        const img = await api(admin, 'POST', u('/v2/images'), { name: `paged-${i}`, disk_format: 'raw', container_format: 'bare' });
        assert.equal((await api(admin, 'PUT', u(`/v2/images/${img.body.id}/stage`), randomBytes(1000), OCTETS)).status, 204);
        assert.equal((await api(admin, 'POST', u(`/v2/images/${img.body.id}/import`), { method: { name: 'glance-direct' } })).status, 202);
        ids.push(img.body.id);
      }
      for (const id of ids) {
        for (let i = 0; (await api(admin, 'GET', u(`/v2/images/${id}`))).body.status !== 'active'; i++) {
          assert.ok(i < 200, `${id} never became active`);
          await delay(25);
        }
      }
      const seen: string[] = [];
      let next: string | undefined = '/v2/tasks?limit=1&sort_dir=asc';
      while (next !== undefined) {
        const page: any = await api(admin, 'GET', u(next));
        assert.equal(page.status, 200, JSON.stringify(page.body));
        seen.push(...page.body.tasks.map((t: any) => t.image_id));
        next = page.body.next;
        assert.ok(seen.length <= 4, 'paging ends');
      }
      assert.deepEqual(seen, ids);
    });
  });
}
