import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { request } from 'node:http';
import { after, before, describe, it } from 'node:test';
import { setTimeout as delay } from 'node:timers/promises';
import { seedImage } from '../../src/image/seed.js';
import { adminLogin, call, getWithHost, memberOf, startServices, type Login, type Services } from '../identity/harness.js';

const PATCH = { 'content-type': 'application/openstack-images-v2.1-json-patch' };
const OCTETS = { 'content-type': 'application/octet-stream' };

const md5 = (b: Uint8Array): string => createHash('md5').update(b).digest('hex');
const sha512 = (b: Uint8Array): string => createHash('sha512').update(b).digest('hex');

/** An upload streamed in chunks (never one buffer on the wire). */
async function streamUpload(url: string, token: string, chunks: Buffer[]): Promise<number> {
  const body = new ReadableStream<Uint8Array>({
    pull(controller) {
      const next = chunks.shift();
      if (next) controller.enqueue(next);
      else controller.close();
    },
  });
  const res = await fetch(url, { method: 'PUT', headers: { ...OCTETS, 'x-auth-token': token }, body, duplex: 'half' } as RequestInit);
  await res.arrayBuffer();
  return res.status;
}

describe('image v2 API', () => {
  let s: Services;
  let admin: Login;
  let alice: Login; // member of project "alpha"
  let bob: Login; // member of project "beta"
  before(async () => {
    s = await startServices();
    admin = await adminLogin(s);
    alice = await memberOf(s, admin, 'alpha', 'alice');
    bob = await memberOf(s, admin, 'beta', 'bob');
  });
  after(async () => s.close());

  const url = (path: string): string => `${s.imageUrl}${path}`;
  const create = async (who: Login, body: Record<string, unknown>) => {
    const r = await call('POST', url('/v2/images'), { token: who.token, body });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    return r.body;
  };
  const upload = async (who: Login, id: string, data: Uint8Array) =>
    (await call('PUT', url(`/v2/images/${id}/file`), { token: who.token, raw: data, headers: OCTETS })).status;
  const storeFiles = (): string[] => {
    try {
      return readdirSync(s.config.str('image', 'store_path'));
    } catch {
      return [];
    }
  };

  it('answers version discovery without a token, linked from the Host header', async () => {
    for (const path of ['/', '/versions']) {
      const r = await getWithHost(url(path), 'glance.example:9292');
      assert.equal(r.status, 300);
      const current = r.body.versions.find((v: { status: string }) => v.status === 'CURRENT');
      assert.match(current.id, /^v2\.\d+$/);
      assert.deepEqual(current.links, [{ rel: 'self', href: 'http://glance.example:9292/v2/' }]);
    }
    assert.equal((await call('GET', url('/v2/images'))).status, 401);
  });

  it('publishes the image and images schemas', async () => {
    const image = await call('GET', url('/v2/schemas/image'), { token: alice.token });
    assert.equal(image.body.name, 'image');
    assert.ok(image.body.properties.disk_format.enum.includes('qcow2'));
    const images = await call('GET', url('/v2/schemas/images'), { token: alice.token });
    assert.equal(images.body.name, 'images');
  });

  it('creates an image with Glance\'s body, defaults and extra properties', async () => {
    const r = await call('POST', url('/v2/images'), {
      token: alice.token,
      body: {
        name: 'cirros', disk_format: 'qcow2', container_format: 'bare', min_ram: 64, tags: ['a', 'b', 'a'],
        'owner_specified.openstack.md5': 'abc', 'owner_specified.openstack.sha256': '', 'owner_specified.openstack.object': 'images/cirros',
        hw_disk_bus: 'virtio',
      },
    });
    assert.equal(r.status, 201);
    assert.match(r.headers.get('content-type')!, /^application\/json/);
    const img = r.body;
    assert.equal(r.headers.get('location'), url(`/v2/images/${img.id}`));
    assert.deepEqual(Object.keys(img).sort(), [
      'checksum', 'container_format', 'created_at', 'disk_format', 'file', 'hw_disk_bus', 'id', 'min_disk', 'min_ram', 'name',
      'os_hash_algo', 'os_hash_value', 'os_hidden', 'owner', 'owner_specified.openstack.md5', 'owner_specified.openstack.object',
      'owner_specified.openstack.sha256', 'protected', 'schema', 'self', 'size', 'status', 'tags', 'updated_at', 'virtual_size', 'visibility',
    ]);
    assert.equal(img.status, 'queued');
    assert.equal(img.visibility, 'shared');
    assert.equal(img.owner, alice.projectId);
    assert.equal(img.size, null);
    assert.equal(img.checksum, null);
    assert.equal(img.protected, false);
    assert.deepEqual(img.tags, ['a', 'b']);
    assert.equal(img['owner_specified.openstack.md5'], 'abc');
    assert.equal(img.self, `/v2/images/${img.id}`);
    assert.equal(img.file, `/v2/images/${img.id}/file`);
    assert.equal(img.schema, '/v2/schemas/image');
    assert.match(img.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);

    const withId = await create(alice, { id: '11111111-2222-3333-4444-555555555555', name: 'fixed' });
    assert.equal(withId.id, '11111111-2222-3333-4444-555555555555');
    const dup = await call('POST', url('/v2/images'), { token: alice.token, body: { id: withId.id } });
    assert.equal(dup.status, 409);
  });

  it('refuses bad input with 400 (or 403 for read-only attributes), never 500', async () => {
    const post = (body: unknown) => call('POST', url('/v2/images'), { token: alice.token, body });
    for (const body of [
      { disk_format: 'floppy' }, { container_format: 'crate' }, { visibility: 'everyone' }, { min_disk: -1 }, { min_ram: 'lots' },
      { name: 'x'.repeat(256) }, { protected: 'yes' }, { tags: 'a' }, { id: 'not-a-uuid' }, { extra: 5 }, [],
    ]) {
      const r = await post(body);
      assert.equal(r.status, 400, `${JSON.stringify(body)} → ${r.status} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.code, 400);
    }
    for (const body of [{ status: 'active' }, { size: 5 }, { checksum: 'x' }, { locations: [] }]) {
      assert.equal((await post(body)).status, 403, JSON.stringify(body));
    }
    assert.equal((await call('POST', url('/v2/images'), { token: alice.token, raw: '{', headers: { 'content-type': 'application/json' } })).status, 400);
    assert.equal((await post({ visibility: 'public' })).status, 403, 'only admins publish');
    assert.equal((await call('POST', url('/v2/images'), { token: admin.token, body: { visibility: 'public', name: 'pub' } })).status, 201);
    const list = await call('GET', url('/v2/images?limit=-1'), { token: alice.token });
    assert.equal(list.status, 400);
    assert.equal((await call('GET', url('/v2/images?sort_key=color'), { token: alice.token })).status, 400);
    assert.equal((await call('GET', url('/v2/images?visibility=secret'), { token: alice.token })).status, 400);
    assert.equal((await call('GET', url('/v2/images?marker=00000000-0000-0000-0000-000000000000'), { token: alice.token })).status, 400);
  });

  it('uploads streamed data of any size, hashing it, and downloads it back', async () => {
    const img = await create(alice, { name: 'big', disk_format: 'raw', container_format: 'bare' });
    const chunks = Array.from({ length: 48 }, () => randomBytes(64 * 1024)); // 3 MiB: over the JSON body limit
    const data = Buffer.concat(chunks);
    assert.equal(await streamUpload(url(`/v2/images/${img.id}/file`), alice.token, [...chunks]), 204);

    const shown = await call('GET', url(`/v2/images/${img.id}`), { token: alice.token });
    assert.equal(shown.body.status, 'active');
    assert.equal(shown.body.size, data.length);
    assert.equal(shown.body.virtual_size, data.length);
    assert.equal(shown.body.checksum, md5(data));
    assert.equal(shown.body.os_hash_algo, 'sha512');
    assert.equal(shown.body.os_hash_value, sha512(data));

    const res = await fetch(url(`/v2/images/${img.id}/file`), { headers: { 'x-auth-token': alice.token } });
    assert.equal(res.status, 200);
    assert.equal(res.headers.get('content-type'), 'application/octet-stream');
    assert.equal(res.headers.get('content-md5'), md5(data));
    assert.ok(Buffer.from(await res.arrayBuffer()).equals(data));

    assert.equal(await upload(alice, img.id, Buffer.from('again')), 409, 'data is written once');
  });

  it('reads the virtual size of a qcow2 image from its header', async () => {
    const img = await create(alice, { name: 'q', disk_format: 'qcow2', container_format: 'bare' });
    const header = Buffer.alloc(1024);
    header.writeUInt32BE(0x514649fb, 0);
    header.writeUInt32BE(3, 4);
    header.writeBigUInt64BE(1n << 30n, 24);
    assert.equal(await upload(alice, img.id, header), 204);
    const shown = await call('GET', url(`/v2/images/${img.id}`), { token: alice.token });
    assert.equal(shown.body.virtual_size, 1 << 30);
    assert.equal(shown.body.size, 1024);
  });

  it('answers 204 when downloading an image without data, 415 for other upload types', async () => {
    const img = await create(alice, { name: 'empty' });
    const r = await call('GET', url(`/v2/images/${img.id}/file`), { token: alice.token });
    assert.equal(r.status, 204);
    const wrongType = await call('PUT', url(`/v2/images/${img.id}/file`), { token: alice.token, raw: 'x', headers: { 'content-type': 'text/plain' } });
    assert.equal(wrongType.status, 415);
    assert.equal((await call('GET', url(`/v2/images/${img.id}`), { token: alice.token })).body.status, 'queued');
  });

  it('leaves no partial file and returns the image to queued when an upload breaks off', async () => {
    const img = await create(alice, { name: 'broken', disk_format: 'raw', container_format: 'bare' });
    const before = storeFiles();
    await new Promise<void>((resolve) => {
      const u = new URL(url(`/v2/images/${img.id}/file`));
      const req = request(u, { method: 'PUT', headers: { ...OCTETS, 'x-auth-token': alice.token, 'content-length': String(1 << 20) } });
      req.on('error', () => resolve());
      req.write(randomBytes(128 * 1024), () => setImmediate(() => {
        req.destroy();
        resolve();
      }));
    });
    let status = '';
    for (let i = 0; i < 200 && status !== 'queued'; i++) {
      status = (await call('GET', url(`/v2/images/${img.id}`), { token: alice.token })).body.status;
      if (status !== 'queued') await delay(10);
    }
    assert.equal(status, 'queued');
    assert.deepEqual(storeFiles(), before);
    // And the image can be uploaded afterwards.
    assert.equal(await upload(alice, img.id, Buffer.from('complete')), 204);
  });

  it('lists with filters, sorting and marker pagination', async () => {
    const names = ['p-1', 'p-2', 'p-3', 'p-4', 'p-5'];
    const ids: string[] = [];
    for (const [i, name] of names.entries()) {
      const img = await create(bob, {
        name, disk_format: i % 2 ? 'qcow2' : 'raw', container_format: 'bare', tags: i < 2 ? ['gold', `t${i}`] : [`t${i}`],
        os_distro: i === 4 ? 'debian' : 'ubuntu', visibility: 'private',
      });
      ids.push(img.id);
    }
    await upload(bob, ids[0]!, Buffer.from('data'));

    // Walk all pages by following `next`.
    const seen: string[] = [];
    let next: string | undefined = `/v2/images?limit=2&sort_key=name&sort_dir=asc&owner=${bob.projectId}`;
    let pages = 0;
    while (next) {
      const page: any = await call('GET', url(next), { token: bob.token });
      assert.equal(page.status, 200);
      assert.equal(page.body.schema, '/v2/schemas/images');
      assert.ok(page.body.first.startsWith('/v2/images'));
      seen.push(...page.body.images.map((i: { name: string }) => i.name));
      next = page.body.next;
      pages++;
    }
    assert.deepEqual(seen, names);
    assert.equal(pages, 3);

    // Bob sees public images too; these checks are about his own.
    const list = async (query: string): Promise<string[]> => {
      const r = await call('GET', url(`/v2/images?owner=${bob.projectId}&${query}`), { token: bob.token });
      assert.equal(r.status, 200, JSON.stringify(r.body));
      return r.body.images.map((i: { name: string }) => i.name);
    };
    assert.deepEqual(await list('sort=name:desc&limit=3'), ['p-5', 'p-4', 'p-3']);
    assert.deepEqual(await list('name=p-3'), ['p-3']);
    assert.deepEqual((await list('name=in:p-1,p-4&sort_key=name&sort_dir=asc')), ['p-1', 'p-4']);
    assert.deepEqual(await list('tag=gold&sort_key=name&sort_dir=asc'), ['p-1', 'p-2']);
    assert.deepEqual(await list('tag=gold&tag=t1'), ['p-2']);
    assert.deepEqual(await list('disk_format=qcow2&sort_key=name&sort_dir=asc'), ['p-2', 'p-4']);
    assert.deepEqual(await list('status=active'), ['p-1']);
    assert.deepEqual(await list('os_distro=debian'), ['p-5']);
    assert.deepEqual((await list('visibility=private&sort_key=name&sort_dir=asc')), names);
    assert.deepEqual(await list('container_format=bare&limit=1&sort_key=name&sort_dir=asc'), ['p-1']);
    assert.deepEqual(await list('size_min=1'), ['p-1']);
  });

  it('applies json-patch updates', async () => {
    const img = await create(alice, { name: 'patchme', disk_format: 'raw', container_format: 'bare', color: 'red' });
    const patch = (ops: unknown, headers: Record<string, string> = PATCH, who = alice) =>
      call('PATCH', url(`/v2/images/${img.id}`), { token: who.token, body: ops, headers });
    const ok = await patch([
      { op: 'replace', path: '/name', value: 'patched' },
      { op: 'add', path: '/flavor', value: 'vanilla' },
      { op: 'replace', path: '/color', value: 'blue' },
      { op: 'replace', path: '/min_disk', value: 3 },
      { op: 'replace', path: '/tags', value: ['x', 'y'] },
      { op: 'add', path: '/protected', value: true },
      { op: 'replace', path: '/visibility', value: 'private' },
      { op: 'replace', path: '/disk_format', value: 'qcow2' },
    ]);
    assert.equal(ok.status, 200, JSON.stringify(ok.body));
    assert.equal(ok.body.name, 'patched');
    assert.equal(ok.body.flavor, 'vanilla');
    assert.equal(ok.body.color, 'blue');
    assert.equal(ok.body.min_disk, 3);
    assert.deepEqual(ok.body.tags, ['x', 'y']);
    assert.equal(ok.body.protected, true);
    assert.equal(ok.body.visibility, 'private');
    assert.equal(ok.body.disk_format, 'qcow2');
    const removed = await patch([{ op: 'remove', path: '/color' }]);
    assert.equal(removed.body.color, undefined);

    assert.equal((await patch([{ op: 'replace', path: '/name', value: 'x' }], { 'content-type': 'application/json' })).status, 415);
    assert.equal((await patch([{ op: 'remove', path: '/name' }])).status, 403);
    assert.equal((await patch([{ op: 'replace', path: '/status', value: 'active' }])).status, 403);
    assert.equal((await patch([{ op: 'replace', path: '/nothere', value: 'x' }])).status, 409);
    assert.equal((await patch([{ op: 'remove', path: '/nothere' }])).status, 409);
    assert.equal((await patch([{ op: 'replace', path: '/min_ram', value: -5 }])).status, 400);
    assert.equal((await patch([{ op: 'replace', path: '/visibility', value: 'public' }])).status, 403);
    assert.equal((await patch([{ op: 'add', path: '/prop', value: 7 }])).status, 400);
    assert.equal((await patch([{ op: 'add', path: '/a/b', value: 'x' }])).status, 400);
    assert.equal((await patch([{ op: 'move', path: '/name', from: '/x' }])).status, 400);
    assert.equal((await patch({ op: 'replace' })).status, 400);
    assert.equal((await patch([{ op: 'replace', path: '/name', value: 'bob-was-here' }], PATCH, bob)).status, 404);
    // Formats are fixed once data is stored.
    assert.equal(await upload(alice, img.id, Buffer.from('bits')), 204);
    assert.equal((await patch([{ op: 'replace', path: '/disk_format', value: 'raw' }])).status, 403);
  });

  it('deletes images and their data; protected ones only after unprotecting', async () => {
    const img = await create(alice, { name: 'doomed', protected: true, disk_format: 'raw', container_format: 'bare' });
    assert.equal(await upload(alice, img.id, Buffer.from('bytes')), 204);
    assert.ok(storeFiles().includes(img.id));
    assert.equal((await call('DELETE', url(`/v2/images/${img.id}`), { token: alice.token })).status, 403);
    await call('PATCH', url(`/v2/images/${img.id}`), { token: alice.token, body: [{ op: 'replace', path: '/protected', value: false }], headers: PATCH });
    assert.equal((await call('DELETE', url(`/v2/images/${img.id}`), { token: bob.token })).status, 404);
    assert.equal((await call('DELETE', url(`/v2/images/${img.id}`), { token: alice.token })).status, 204);
    assert.equal((await call('GET', url(`/v2/images/${img.id}`), { token: alice.token })).status, 404);
    assert.ok(!storeFiles().includes(img.id));
  });

  it('keeps private images to their owner and shares shared images with accepted members', async () => {
    const priv = await create(alice, { name: 'alice-private', visibility: 'private', disk_format: 'raw', container_format: 'bare' });
    await upload(alice, priv.id, Buffer.from('secret'));
    const bobList = async (query = ''): Promise<string[]> =>
      (await call('GET', url(`/v2/images${query}`), { token: bob.token })).body.images.map((i: { id: string }) => i.id);
    assert.equal((await call('GET', url(`/v2/images/${priv.id}`), { token: bob.token })).status, 404);
    assert.equal((await call('GET', url(`/v2/images/${priv.id}/file`), { token: bob.token })).status, 404);
    assert.ok(!(await bobList()).includes(priv.id));
    assert.equal((await call('GET', url(`/v2/images/${priv.id}`), { token: admin.token })).status, 200, 'admins see everything');
    const noMembers = await call('POST', url(`/v2/images/${priv.id}/members`), { token: alice.token, body: { member: bob.projectId } });
    assert.equal(noMembers.status, 403);

    const shared = await create(alice, { name: 'alice-shared', disk_format: 'raw', container_format: 'bare' });
    await upload(alice, shared.id, Buffer.from('shared bits'));
    assert.equal((await call('GET', url(`/v2/images/${shared.id}`), { token: bob.token })).status, 404);

    const added = await call('POST', url(`/v2/images/${shared.id}/members`), { token: alice.token, body: { member: bob.projectId } });
    assert.equal(added.status, 200);
    assert.deepEqual(Object.keys(added.body).sort(), ['created_at', 'image_id', 'member_id', 'schema', 'status', 'updated_at']);
    assert.equal(added.body.status, 'pending');
    assert.equal((await call('POST', url(`/v2/images/${shared.id}/members`), { token: alice.token, body: { member: bob.projectId } })).status, 409);

    // Pending: visible by id, not in the default list.
    assert.equal((await call('GET', url(`/v2/images/${shared.id}`), { token: bob.token })).status, 200);
    assert.ok(!(await bobList()).includes(shared.id));
    assert.ok((await bobList('?member_status=pending')).includes(shared.id));

    const memberUrl = url(`/v2/images/${shared.id}/members/${bob.projectId}`);
    assert.equal((await call('PUT', memberUrl, { token: alice.token, body: { status: 'accepted' } })).status, 403, 'only the member decides');
    assert.equal((await call('PUT', memberUrl, { token: bob.token, body: { status: 'maybe' } })).status, 400);
    const accepted = await call('PUT', memberUrl, { token: bob.token, body: { status: 'accepted' } });
    assert.equal(accepted.status, 200);
    assert.equal(accepted.body.status, 'accepted');
    assert.ok((await bobList()).includes(shared.id));
    const download = await fetch(url(`/v2/images/${shared.id}/file`), { headers: { 'x-auth-token': bob.token } });
    assert.equal(await download.text(), 'shared bits');

    const members = await call('GET', url(`/v2/images/${shared.id}/members`), { token: bob.token });
    assert.deepEqual(members.body.members.map((m: { member_id: string }) => m.member_id), [bob.projectId]);
    assert.equal(members.body.schema, '/v2/schemas/members');
    assert.equal((await call('GET', memberUrl, { token: bob.token })).body.status, 'accepted');

    // A member may read but not change the image or its members.
    const carolProject = (await call('POST', `${s.identityUrl}/v3/projects`, { token: admin.token, body: { project: { name: 'gamma' } } })).body.project.id;
    assert.equal((await call('POST', url(`/v2/images/${shared.id}/members`), { token: bob.token, body: { member: carolProject } })).status, 403);
    assert.equal((await call('PATCH', url(`/v2/images/${shared.id}`), { token: bob.token, body: [{ op: 'replace', path: '/name', value: 'mine' }], headers: PATCH })).status, 403);
    assert.equal((await call('DELETE', url(`/v2/images/${shared.id}`), { token: bob.token })).status, 403);
    assert.equal((await call('DELETE', memberUrl, { token: bob.token })).status, 403);

    assert.equal((await call('DELETE', memberUrl, { token: alice.token })).status, 204);
    assert.equal((await call('GET', url(`/v2/images/${shared.id}`), { token: bob.token })).status, 404);
  });

  it('shows public images to everyone and community images on request', async () => {
    const pub = await create(admin, { name: 'everyone', visibility: 'public' });
    const comm = await create(alice, { name: 'community', visibility: 'community' });
    const names = async (query = '') => (await call('GET', url(`/v2/images${query}`), { token: bob.token })).body.images.map((i: { id: string }) => i.id);
    assert.ok((await names()).includes(pub.id));
    assert.ok(!(await names()).includes(comm.id));
    assert.ok((await names('?visibility=community')).includes(comm.id));
    assert.equal((await call('GET', url(`/v2/images/${comm.id}`), { token: bob.token })).status, 200);
  });

  it('seeds one public image once, through the upload path', async () => {
    const fresh = await startServices({ image: { seed_image: 'true' } });
    try {
      await seedImage(fresh.db, fresh.config);
      await seedImage(fresh.db, fresh.config);
      const who = await adminLogin(fresh);
      const list = await call('GET', `${fresh.imageUrl}/v2/images`, { token: who.token });
      assert.equal(list.body.images.length, 1);
      const img = list.body.images[0];
      assert.equal(img.name, 'orrery-tiny');
      assert.equal(img.visibility, 'public');
      assert.equal(img.status, 'active');
      assert.equal(img.disk_format, 'raw');
      assert.equal(img.container_format, 'bare');
      const data = Buffer.from(await (await fetch(`${fresh.imageUrl}/v2/images/${img.id}/file`, { headers: { 'x-auth-token': who.token } })).arrayBuffer());
      assert.equal(data.length, img.size);
      assert.equal(md5(data), img.checksum);
      assert.equal(sha512(data), img.os_hash_value);
    } finally {
      await fresh.close();
    }
  });
});
