import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { createPrivateKey, createPublicKey, X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { register } from '../../src/api/keypairs.js';
import { getKeyPair } from '../../src/db/keypairs.js';
import { setProjectLimits } from '../../src/db/quotas.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { call, startHarness, type Harness } from './harness.js';

/** ssh-keygen's MD5 fingerprint of a public key line, as "aa:bb:…". */
function sshKeygenMd5(dir: string, publicKey: string): string {
  const file = join(dir, `k${Math.random().toString(36).slice(2)}.pub`);
  writeFileSync(file, `${publicKey}\n`);
  const out = execFileSync('ssh-keygen', ['-l', '-E', 'md5', '-f', file], { encoding: 'utf8' });
  return /MD5:([0-9a-f:]+)/.exec(out)![1]!;
}

function sshKeygenGenerate(dir: string, type: string): string {
  const file = join(dir, `id_${type}_${Math.random().toString(36).slice(2)}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', 'tester@example', '-f', file]);
  return readFileSync(`${file}.pub`, 'utf8').trim();
}

describe('os-keypairs API', () => {
  let h: Harness;
  let dir: string;
  before(async () => {
    h = await startHarness([register]);
    dir = mkdtempSync(join(tmpdir(), 'orrery-keys-'));
  });
  after(async () => {
    rmSync(dir, { recursive: true, force: true });
    await h.close();
  });

  it('generates an RSA key pair: OpenSSH public key, PEM private key, MD5 fingerprint', async () => {
    const r = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'gen-21' } });
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const kp = r.body.keypair;
    assert.deepEqual(Object.keys(kp).sort(), ['fingerprint', 'name', 'private_key', 'public_key', 'user_id']);
    assert.equal(kp.user_id, h.member.userId);
    assert.match(kp.public_key, /^ssh-rsa AAAA[0-9A-Za-z+/=]+ Generated-by-Nova$/);
    assert.match(kp.private_key, /^-----BEGIN RSA PRIVATE KEY-----\n/);
    assert.match(kp.fingerprint, /^([0-9a-f]{2}:){15}[0-9a-f]{2}$/);
    const priv = createPrivateKey(kp.private_key);
    assert.equal(priv.asymmetricKeyDetails?.modulusLength, 2048);
    // the public key is the private key's
    const fromPriv = createPublicKey(priv).export({ format: 'jwk' });
    const blob = Buffer.from(kp.public_key.split(' ')[1], 'base64');
    assert.ok(blob.includes(Buffer.from(fromPriv.n!, 'base64url')));
  });

  it('fingerprints generated and imported keys exactly as ssh-keygen does', { skip: backendSkip('ssh-keygen', commandExists('ssh-keygen')) }, async () => {
    const gen = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'gen-check' } }, '2.2');
    assert.equal(gen.body.keypair.fingerprint, sshKeygenMd5(dir, gen.body.keypair.public_key));
    for (const type of ['rsa', 'ed25519', 'ecdsa']) {
      const pub = sshKeygenGenerate(dir, type);
      const r = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: `imported-${type}`, public_key: pub } }, '2.2');
      assert.equal(r.status, 201, JSON.stringify(r.body));
      assert.equal(r.body.keypair.private_key, undefined);
      assert.equal(r.body.keypair.public_key, pub);
      assert.equal(r.body.keypair.type, 'ssh');
      assert.equal(r.body.keypair.fingerprint, sshKeygenMd5(dir, pub), type);
    }
  });

  it('refuses public keys that are not keys', async () => {
    const good = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd1MZxm0ytHlQ9pKRqkrXNaHGLpoZEmP5mZtE3vfVqK me';
    const bad = [
      'not a key',
      'ssh-rsa',
      'ssh-rsa !!!!',
      'ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQ==',
      good.replace('ssh-ed25519', 'ssh-rsa'),
      good.replace('AAAAIPd1', 'AAAAIQd1'),
      'ssh-foo AAAAB3NzaC1mb28=',
      '',
    ];
    for (const public_key of bad) {
      const r = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'bad-key', public_key } });
      assert.equal(r.status, 400, public_key);
      assert.equal(r.body.badRequest.message, 'Keypair data is invalid: failed to generate fingerprint');
    }
    const ok = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'good-ed25519', public_key: good } });
    assert.equal(ok.status, 200);
  });

  it('generates and imports x509 certificates from 2.2', { skip: backendSkip('openssl', commandExists('openssl')) }, async () => {
    const gen = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'winrm', type: 'x509' } }, '2.2');
    assert.equal(gen.status, 201, JSON.stringify(gen.body));
    assert.equal(gen.body.keypair.type, 'x509');
    const cert = new X509Certificate(gen.body.keypair.public_key);
    assert.ok(cert.verify(cert.publicKey), 'self-signed signature verifies');
    assert.ok(cert.checkPrivateKey(createPrivateKey(gen.body.keypair.private_key)));
    assert.equal(cert.subject, `CN=${h.member.userId}`);
    assert.match(cert.subjectAltName ?? '', /othername/i);
    const file = join(dir, 'cert.pem');
    writeFileSync(file, gen.body.keypair.public_key);
    const openssl = execFileSync('openssl', ['x509', '-in', file, '-noout', '-fingerprint', '-sha1', '-ext', 'extendedKeyUsage'], { encoding: 'utf8' });
    assert.match(openssl, /TLS Web Client Authentication/);
    assert.equal(gen.body.keypair.fingerprint, /Fingerprint=([0-9A-F:]+)/.exec(openssl)![1]!.toLowerCase());

    const imported = await call(h, h.member, 'POST', '/v2.1/os-keypairs', {
      keypair: { name: 'winrm-import', type: 'x509', public_key: gen.body.keypair.public_key },
    }, '2.2');
    assert.equal(imported.status, 201);
    assert.equal(imported.body.keypair.fingerprint, gen.body.keypair.fingerprint);
    const junk = await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'x', type: 'x509', public_key: 'nope' } }, '2.2');
    assert.equal(junk.status, 400);
  });

  it('validates the body by microversion', async () => {
    const bad: Array<[unknown, string]> = [
      [{}, '2.1'],
      [{ keypair: {} }, '2.1'],
      [{ keypair: { name: '' } }, '2.1'],
      [{ keypair: { name: 'x'.repeat(256) } }, '2.1'],
      [{ keypair: { name: 'a/b' } }, '2.1'],
      [{ keypair: { name: 'dots.are.unsafe' } }, '2.1'],
      [{ keypair: { name: 'k', type: 'ssh' } }, '2.1'],
      [{ keypair: { name: 'k', type: 'pgp' } }, '2.2'],
      [{ keypair: { name: 'k', user_id: h.member.userId } }, '2.9'],
      [{ keypair: { name: 'k', extra: 1 } }, '2.10'],
      [{ keypair: { name: 'k', public_key: 42 } }, '2.10'],
    ];
    for (const [body, mv] of bad) {
      const r = await call(h, h.member, 'POST', '/v2.1/os-keypairs', body, mv);
      assert.equal(r.status, 400, `${mv} ${JSON.stringify(body)}: ${JSON.stringify(r.body)}`);
    }
  });

  it('refuses a duplicate name with 409 but lets another user use it', async () => {
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd1MZxm0ytHlQ9pKRqkrXNaHGLpoZEmP5mZtE3vfVqK me';
    assert.equal((await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'shared name', public_key: pub } })).status, 200);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'shared name', public_key: pub } })).status, 409);
    assert.equal((await call(h, h.peer, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'shared name', public_key: pub } })).status, 200);
  });

  it('enforces the key_pairs quota per user with 403', async () => {
    await setProjectLimits(h.db, h.other.projectId, { key_pairs: 2 });
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd1MZxm0ytHlQ9pKRqkrXNaHGLpoZEmP5mZtE3vfVqK me';
    for (const name of ['q1', 'q2']) {
      assert.equal((await call(h, h.other, 'POST', '/v2.1/os-keypairs', { keypair: { name, public_key: pub } })).status, 200);
    }
    const over = await call(h, h.other, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'q3', public_key: pub } });
    assert.equal(over.status, 403);
    assert.equal(over.body.forbidden.message, 'Quota exceeded, too many key pairs.');
    assert.equal((await call(h, h.other, 'GET', '/v2.1/os-keypairs/q3')).status, 404);
  });

  it('lists, shows and deletes a user\'s own key pairs only', async () => {
    const list = await call(h, h.member, 'GET', '/v2.1/os-keypairs');
    assert.equal(list.status, 200);
    const names = list.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name);
    assert.ok(names.includes('gen-21') && names.includes('shared name'));
    assert.deepEqual(Object.keys(list.body.keypairs[0].keypair).sort(), ['fingerprint', 'name', 'public_key']);
    const v22 = await call(h, h.member, 'GET', '/v2.1/os-keypairs', undefined, '2.2');
    assert.equal(v22.body.keypairs[0].keypair.type, 'ssh');

    const peerNames = (await call(h, h.peer, 'GET', '/v2.1/os-keypairs')).body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name);
    assert.deepEqual(peerNames, ['shared name']);

    const show = await call(h, h.member, 'GET', '/v2.1/os-keypairs/gen-21', undefined, '2.2');
    assert.equal(show.status, 200);
    assert.deepEqual(Object.keys(show.body.keypair).sort(), [
      'created_at', 'deleted', 'deleted_at', 'fingerprint', 'id', 'name', 'public_key', 'type', 'updated_at', 'user_id',
    ]);
    assert.equal(show.body.keypair.deleted, false);
    assert.equal(typeof show.body.keypair.id, 'number');
    assert.match(show.body.keypair.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}$/);
    assert.equal((await call(h, h.other, 'GET', '/v2.1/os-keypairs/gen-21')).status, 404);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/os-keypairs/nope')).status, 404);

    const stored = await getKeyPair(h.db, h.member.userId, 'gen-21');
    assert.equal(stored?.type, 'ssh');
    assert.equal(stored?.fingerprint, show.body.keypair.fingerprint);
    assert.equal(await getKeyPair(h.db, h.other.userId, 'gen-21'), null);

    assert.equal((await call(h, h.other, 'DELETE', '/v2.1/os-keypairs/gen-21')).status, 404);
    assert.equal((await call(h, h.member, 'DELETE', '/v2.1/os-keypairs/gen-21')).status, 202);
    assert.equal((await call(h, h.member, 'DELETE', '/v2.1/os-keypairs/gen-21')).status, 404);
    assert.equal((await call(h, h.member, 'DELETE', '/v2.1/os-keypairs/gen-check', undefined, '2.2')).status, 204);
  });

  it('lets admins act for other users from 2.10, and no one else', async () => {
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd1MZxm0ytHlQ9pKRqkrXNaHGLpoZEmP5mZtE3vfVqK me';
    const made = await call(h, h.admin, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'for-bob', public_key: pub, user_id: h.other.userId } }, '2.10');
    assert.equal(made.status, 201);
    assert.equal(made.body.keypair.user_id, h.other.userId);
    assert.equal((await call(h, h.other, 'GET', '/v2.1/os-keypairs/for-bob')).status, 200);

    const q = `user_id=${h.other.userId}`;
    const adminList = await call(h, h.admin, 'GET', `/v2.1/os-keypairs?${q}`, undefined, '2.10');
    assert.ok(adminList.body.keypairs.some((k: { keypair: { name: string } }) => k.keypair.name === 'for-bob'));
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-keypairs/for-bob?${q}`, undefined, '2.10')).status, 200);
    // below 2.10 user_id is ignored: the admin sees its own key pairs
    assert.equal((await call(h, h.admin, 'GET', `/v2.1/os-keypairs/for-bob?${q}`, undefined, '2.9')).status, 404);

    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-keypairs?${q}`, undefined, '2.10')).status, 403);
    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-keypairs/for-bob?${q}`, undefined, '2.10')).status, 403);
    assert.equal((await call(h, h.member, 'DELETE', `/v2.1/os-keypairs/for-bob?${q}`, undefined, '2.10')).status, 403);
    assert.equal((await call(h, h.member, 'POST', '/v2.1/os-keypairs', { keypair: { name: 'sneaky', public_key: pub, user_id: h.other.userId } }, '2.10')).status, 403);
    // naming oneself is fine
    assert.equal((await call(h, h.member, 'GET', `/v2.1/os-keypairs?user_id=${h.member.userId}`, undefined, '2.10')).status, 200);

    assert.equal((await call(h, h.admin, 'DELETE', `/v2.1/os-keypairs/for-bob?${q}`, undefined, '2.10')).status, 204);
    assert.equal((await call(h, h.other, 'GET', '/v2.1/os-keypairs/for-bob')).status, 404);
  });

  it('pages with limit and marker from 2.35', async () => {
    const pub = 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIPd1MZxm0ytHlQ9pKRqkrXNaHGLpoZEmP5mZtE3vfVqK me';
    for (const name of ['p1', 'p2', 'p3']) {
      await call(h, h.peer, 'POST', '/v2.1/os-keypairs', { keypair: { name, public_key: pub } });
    }
    const all = (await call(h, h.peer, 'GET', '/v2.1/os-keypairs', undefined, '2.35')).body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name);
    assert.deepEqual(all, ['shared name', 'p1', 'p2', 'p3']);
    const first = await call(h, h.peer, 'GET', '/v2.1/os-keypairs?limit=2', undefined, '2.35');
    assert.deepEqual(first.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name), ['shared name', 'p1']);
    const next = new URL(first.body.keypairs_links[0].href);
    assert.equal(next.searchParams.get('marker'), 'p1');
    const second = await call(h, h.peer, 'GET', `${next.pathname}${next.search}`, undefined, '2.35');
    assert.deepEqual(second.body.keypairs.map((k: { keypair: { name: string } }) => k.keypair.name), ['p2', 'p3']);
    assert.equal((await call(h, h.peer, 'GET', '/v2.1/os-keypairs?marker=p3', undefined, '2.35')).body.keypairs.length, 0);
    assert.equal((await call(h, h.peer, 'GET', '/v2.1/os-keypairs?marker=zzz', undefined, '2.35')).status, 400);
    assert.equal((await call(h, h.peer, 'GET', '/v2.1/os-keypairs?limit=x', undefined, '2.35')).status, 400);
    // before 2.35 the parameters are ignored
    const old = await call(h, h.peer, 'GET', '/v2.1/os-keypairs?limit=1', undefined, '2.34');
    assert.equal(old.body.keypairs.length, 4);
    assert.equal(old.body.keypairs_links, undefined);
  });
});
