import assert from 'node:assert/strict';
import { createHash, randomBytes } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { IdentityClient } from '../../src/clients/identity-client.js';
import { ImageClient } from '../../src/clients/image-client.js';
import { Forbidden, NotFound, OrreryError, Unauthorized } from '../../src/common/errors.js';
import { adminLogin, memberOf, startServices, type Login, type Services } from '../identity/harness.js';

async function* chunked(data: Buffer, size: number): AsyncIterable<Uint8Array> {
  for (let i = 0; i < data.length; i += size) yield data.subarray(i, i + size);
}

async function collect(stream: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Uint8Array[] = [];
  for await (const chunk of stream) parts.push(chunk);
  return Buffer.concat(parts);
}

describe('identity and image HTTP clients', () => {
  let s: Services;
  let identity: IdentityClient;
  let images: ImageClient;
  let member: Login;
  before(async () => {
    s = await startServices();
    identity = IdentityClient.fromConfig(s.config, `${s.identityUrl}/v3`);
    images = new ImageClient(identity);
    member = await memberOf(s, await adminLogin(s), 'clients-proj');
  });
  after(async () => s.close());

  it('authenticates as the service user once and finds endpoints in the catalog', async () => {
    const t1 = await identity.token();
    const t2 = await identity.token();
    assert.equal(t1, t2, 'the token is cached');
    const ctx = await s.tokens.validate(t1);
    assert.equal(ctx.userName, 'orrery');
    assert.equal(ctx.projectName, 'service');
    assert.equal(await identity.endpoint('image'), s.imageUrl);
    assert.equal(await identity.endpoint('identity', { interface: 'internal' }), `${s.identityUrl}/v3`);
    await assert.rejects(identity.endpoint('compute'), NotFound);
    await assert.rejects(identity.endpoint('image', { region: 'Elsewhere' }), NotFound);
    identity.invalidate();
    assert.notEqual(await identity.token(), t1);
  });

  it('refuses wrong credentials with Unauthorized', async () => {
    const wrong = new IdentityClient({ authUrl: s.identityUrl, username: 'orrery', password: 'nope', projectName: 'service' });
    await assert.rejects(wrong.token(), Unauthorized);
  });

  it('creates, uploads (streamed), reads and downloads an image', async () => {
    const data = randomBytes(300 * 1024);
    const img = await images.createImage({ name: 'snap', disk_format: 'raw', container_format: 'bare', visibility: 'private' });
    assert.equal(img.status, 'queued');
    await images.uploadImage(img.id, chunked(data, 16 * 1024));
    const shown = await images.getImage(img.id);
    assert.equal(shown.status, 'active');
    assert.equal(shown.checksum, createHash('md5').update(data).digest('hex'));
    assert.ok((await collect(images.downloadImage(img.id))).equals(data));

    const small = await images.createImage({ name: 'small' });
    await images.uploadImage(small.id, Buffer.from('bytes'));
    assert.equal((await collect(images.downloadImage(small.id))).toString(), 'bytes');
    await images.deleteImage(small.id);
    await assert.rejects(images.getImage(small.id), NotFound);
  });

  it('reads images with a user\'s token as that user sees them', async () => {
    const priv = await images.createImage({ name: 'service-private', visibility: 'private' });
    await assert.rejects(images.getImage(priv.id, member.token), NotFound);
    const pub = await images.createImage({ name: 'service-public', visibility: 'public' });
    assert.equal((await images.getImage(pub.id, member.token)).name, 'service-public');
    await assert.rejects(images.getImage(pub.id, 'gAAAAbogus-token-that-is-long-enough-to-look-real-000000'), Unauthorized);
    const plain = new ImageClient(async () => s.imageUrl);
    assert.equal((await plain.getImage(pub.id, member.token)).id, pub.id);
    await assert.rejects(plain.createImage({ name: 'x' }), Unauthorized); // no token, no service credentials
  });

  it('reuses an active image per (image, token) for a short while, and asks again for anything else', async () => {
    let requests = 0;
    const counted = (opts: { cacheTtlMs?: number; cacheMaxEntries?: number }) => new ImageClient(async () => {
      requests++; // the endpoint is looked up once per HTTP request
      return s.imageUrl;
    }, undefined, opts);
    const cached = counted({ cacheTtlMs: 400 });
    const pub = await images.createImage({ name: 'boot-me', visibility: 'public' });
    await images.uploadImage(pub.id, Buffer.from('guest'));
    const other = await memberOf(s, await adminLogin(s), 'clients-proj-2');

    // A storm with one token and image: one request, concurrent callers included.
    const storm = await Promise.all(Array.from({ length: 10 }, () => cached.getImageCached(pub.id, member.token)));
    assert.equal(requests, 1);
    assert.ok(storm.every((img) => img.id === pub.id && img.status === 'active'));
    // Another token is another entry: what one user may see says nothing about another.
    assert.equal((await cached.getImageCached(pub.id, other.token)).id, pub.id);
    assert.equal(requests, 2);

    // Refusals and images not yet bootable are never kept.
    const priv = await images.createImage({ name: 'not-yours', visibility: 'private' });
    await assert.rejects(cached.getImageCached(priv.id, member.token), NotFound);
    await assert.rejects(cached.getImageCached(priv.id, member.token), NotFound);
    assert.equal(requests, 4);
    const queued = await images.createImage({ name: 'queued', visibility: 'public' });
    assert.equal((await cached.getImageCached(queued.id, member.token)).status, 'queued');
    await images.uploadImage(queued.id, Buffer.from('now active'));
    assert.equal((await cached.getImageCached(queued.id, member.token)).status, 'active', 'activated at once');
    assert.equal(requests, 6);

    // A deleted image is still answered from the cache until its entry expires, then refused.
    await images.deleteImage(pub.id);
    assert.equal((await cached.getImageCached(pub.id, member.token)).id, pub.id);
    assert.equal(requests, 6);
    await new Promise((r) => setTimeout(r, 450));
    await assert.rejects(cached.getImageCached(pub.id, member.token), NotFound);
    assert.equal(requests, 7);
  });

  it('keeps at most its bound of cached images, dropping the oldest', async () => {
    let requests = 0;
    const cached = new ImageClient(async () => {
      requests++;
      return s.imageUrl;
    }, undefined, { cacheMaxEntries: 2 });
    const ids: string[] = [];
    for (const name of ['a', 'b', 'c']) {
      const img = await images.createImage({ name, visibility: 'public' });
      await images.uploadImage(img.id, Buffer.from(name));
      ids.push(img.id);
    }
    for (const id of ids) await cached.getImageCached(id, member.token);
    assert.equal(requests, 3);
    await cached.getImageCached(ids[2]!, member.token);
    await cached.getImageCached(ids[1]!, member.token);
    assert.equal(requests, 3, 'the two newest are kept');
    await cached.getImageCached(ids[0]!, member.token);
    assert.equal(requests, 4, 'the oldest was dropped');
  });

  it('turns HTTP errors into OrreryErrors with the same status', async () => {
    await assert.rejects(images.createImage({ disk_format: 'floppy' }), (e: unknown) => e instanceof OrreryError && e.status === 400);
    const protectedImg = await images.createImage({ name: 'keep', protected: true });
    await assert.rejects(images.deleteImage(protectedImg.id), Forbidden);
    const active = await images.createImage({ name: 'once' });
    await images.uploadImage(active.id, Buffer.from('1'));
    await assert.rejects(images.uploadImage(active.id, Buffer.from('2')), (e: unknown) => e instanceof OrreryError && e.status === 409);
    const missing = images.downloadImage('00000000-0000-0000-0000-000000000000');
    await assert.rejects(collect(missing), NotFound);
  });
});
