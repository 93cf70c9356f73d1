import { ownValue } from '../common/records.js';
import { createHash, createPublicKey, generateKeyPair, randomBytes, sign, X509Certificate, type KeyObject } from 'node:crypto';
import { promisify } from 'node:util';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import { isoMicros } from '../common/time.js';
import { createKeyPair, deleteKeyPair, getKeyPair, listKeyPairs, type KeyPair } from '../db/keypairs.js';
import { getProjectLimits } from '../db/quotas.js';
import { NameSchema, mvAtLeast, nextLinks, pageOf, queryParam, requireAdminOrSelf, routeBoth, strictQuery } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';
import { unexpectedProperty } from './server-common.js';

/** The os-keypairs API: generate or import SSH (and x509) public keys per user. */

const generateRsa = promisify(generateKeyPair);

// ---- OpenSSH public keys (RFC 4253 §6.6 wire format)

function sshString(b: Buffer): Buffer {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(b.length);
  return Buffer.concat([len, b]);
}

/** An unsigned big-endian integer as an SSH mpint (a leading zero keeps it positive). */
function sshMpint(b: Buffer): Buffer {
  let i = 0;
  while (i < b.length - 1 && b[i] === 0) i++;
  const trimmed = b.subarray(i);
  return sshString(trimmed[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), trimmed]) : trimmed);
}

/** `ssh-rsa AAAA…` for an RSA public key. */
export function opensshRsaPublicKey(key: KeyObject, comment: string): string {
  const jwk = key.export({ format: 'jwk' });
  const blob = Buffer.concat([
    sshString(Buffer.from('ssh-rsa')), sshMpint(Buffer.from(jwk.e!, 'base64url')), sshMpint(Buffer.from(jwk.n!, 'base64url')),
  ]);
  return `ssh-rsa ${blob.toString('base64')} ${comment}`;
}

class SshReader {
  private at = 0;
  constructor(private readonly buf: Buffer) {}
  string(): Buffer {
    if (this.at + 4 > this.buf.length) throw new Error('truncated');
    const len = this.buf.readUInt32BE(this.at);
    if (this.at + 4 + len > this.buf.length) throw new Error('truncated');
    const out = this.buf.subarray(this.at + 4, this.at + 4 + len);
    this.at += 4 + len;
    return out;
  }
  /** An mpint as unsigned big-endian bytes. */
  mpint(): Buffer {
    const b = this.string();
    if (b.length > 0 && b[0]! & 0x80) throw new Error('negative mpint');
    let i = 0;
    while (i < b.length - 1 && b[i] === 0) i++;
    return b.subarray(i);
  }
  done(): void {
    if (this.at !== this.buf.length) throw new Error('trailing data');
  }
}

const EC_CURVES: Record<string, { crv: string; size: number }> = {
  nistp256: { crv: 'P-256', size: 32 }, nistp384: { crv: 'P-384', size: 48 }, nistp521: { crv: 'P-521', size: 66 },
};

/**
 * Parses an OpenSSH public key line (`<type> <base64> [comment]`) far enough to know it is a
 * real key — the key itself is loaded — and returns its wire blob. Throws when it is not.
 */
function parseOpensshPublicKey(text: string): Buffer {
  const parts = text.trim().split(/\s+/);
  if (parts.length < 2 || !/^[A-Za-z0-9+/]+={0,2}$/.test(parts[1]!)) throw new Error('not an OpenSSH public key');
  const [type, b64] = parts as [string, string];
  const blob = Buffer.from(b64, 'base64');
  const r = new SshReader(blob);
  if (r.string().toString('latin1') !== type) throw new Error('key type mismatch');
  if (type === 'ssh-rsa') {
    const e = r.mpint();
    const n = r.mpint();
    r.done();
    createPublicKey({ key: { kty: 'RSA', e: e.toString('base64url'), n: n.toString('base64url') }, format: 'jwk' });
  } else if (type === 'ssh-ed25519') {
    const x = r.string();
    r.done();
    if (x.length !== 32) throw new Error('bad ed25519 key');
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: x.toString('base64url') }, format: 'jwk' });
  } else if (type.startsWith('ecdsa-sha2-')) {
    const curveName = r.string().toString('latin1');
    const curve = ownValue(EC_CURVES, curveName);
    const q = r.string();
    r.done();
    if (!curve || type !== `ecdsa-sha2-${curveName}`) throw new Error('bad curve');
    if (q.length !== 1 + 2 * curve.size || q[0] !== 4) throw new Error('bad point');
    const x = q.subarray(1, 1 + curve.size).toString('base64url');
    const y = q.subarray(1 + curve.size).toString('base64url');
    createPublicKey({ key: { kty: 'EC', crv: curve.crv, x, y }, format: 'jwk' });
  } else if (type === 'ssh-dss') {
    for (let i = 0; i < 4; i++) r.mpint();
    r.done();
  } else {
    throw new Error(`unsupported key type ${type}`);
  }
  return blob;
}

const colonHex = (digest: Buffer): string => digest.toString('hex').match(/../g)!.join(':');

/** Nova's SSH fingerprint: MD5 of the key blob, colon-separated hex. */
export function sshFingerprint(publicKey: string): string {
  return colonHex(createHash('md5').update(parseOpensshPublicKey(publicKey)).digest());
}

// ---- x509 certificates (Nova's WinRM certificates: type x509)

function der(tag: number, ...content: Buffer[]): Buffer {
  const body = Buffer.concat(content);
  let len: Buffer;
  if (body.length < 0x80) len = Buffer.from([body.length]);
  else {
    const bytes: number[] = [];
    for (let n = body.length; n > 0; n >>= 8) bytes.unshift(n & 0xff);
    len = Buffer.from([0x80 | bytes.length, ...bytes]);
  }
  return Buffer.concat([Buffer.from([tag]), len, body]);
}
const seq = (...c: Buffer[]): Buffer => der(0x30, ...c);
const derInt = (b: Buffer): Buffer => der(0x02, b[0]! & 0x80 ? Buffer.concat([Buffer.from([0]), b]) : b);
const utf8 = (s: string): Buffer => der(0x0c, Buffer.from(s, 'utf8'));
const DER_NULL = Buffer.from([0x05, 0x00]);
function oid(dotted: string): Buffer {
  const [a, b, ...rest] = dotted.split('.').map(Number) as [number, number, ...number[]];
  const bytes = [40 * a + b];
  for (const n of rest) {
    const chunk = [n & 0x7f];
    for (let v = n >>> 7; v > 0; v >>>= 7) chunk.unshift(0x80 | (v & 0x7f));
    bytes.push(...chunk);
  }
  return der(0x06, Buffer.from(bytes));
}
function derTime(d: Date): Buffer {
  const iso = d.toISOString().replace(/[-:T]/g, '').slice(0, 14) + 'Z';
  return d.getUTCFullYear() < 2050 ? der(0x17, Buffer.from(iso.slice(2))) : der(0x18, Buffer.from(iso));
}

/**
 * A self-signed certificate for WinRM client authentication, as Nova makes for x509 key pairs:
 * CN=<user>, UPN <user>@localhost, client-auth usage, ten years, SHA-256 with RSA.
 */
function selfSignedClientCert(userId: string, publicKey: KeyObject, privateKey: KeyObject): string {
  const sha256WithRsa = seq(oid('1.2.840.113549.1.1.11'), DER_NULL);
  const name = seq(der(0x31, seq(oid('2.5.4.3'), utf8(userId))));
  const serial = randomBytes(16);
  serial[0] = serial[0]! & 0x7f;
  const notBefore = new Date();
  const notAfter = new Date(notBefore.getTime() + 10 * 365 * 86400_000);
  const extensions = seq(
    seq(oid('2.5.29.37'), der(0x04, seq(oid('1.3.6.1.5.5.7.3.2')))),
    seq(oid('2.5.29.17'), der(0x04, seq(der(0xa0, oid('1.3.6.1.4.1.311.20.2.3'), der(0xa0, utf8(`${userId}@localhost`)))))),
  );
  const tbs = seq(
    der(0xa0, derInt(Buffer.from([2]))), derInt(serial), sha256WithRsa, name, seq(derTime(notBefore), derTime(notAfter)), name,
    publicKey.export({ type: 'spki', format: 'der' }), der(0xa3, extensions),
  );
  const signature = sign('sha256', tbs, privateKey);
  const cert = seq(tbs, sha256WithRsa, der(0x03, Buffer.from([0]), signature));
  const lines = cert.toString('base64').match(/.{1,64}/g)!.join('\n');
  return `-----BEGIN CERTIFICATE-----\n${lines}\n-----END CERTIFICATE-----\n`;
}

/** Nova's x509 fingerprint: SHA-1 of the DER certificate, colon-separated hex. */
function x509Fingerprint(pem: string): string {
  return colonHex(createHash('sha1').update(new X509Certificate(pem).raw).digest());
}

/** The fingerprint of an imported key, or 400 as Nova's InvalidKeypair. */
function fingerprintOf(type: string, publicKey: string): string {
  try {
    return type === 'x509' ? x509Fingerprint(publicKey) : sshFingerprint(publicKey);
  } catch {
    throw new BadRequest('Keypair data is invalid: failed to generate fingerprint');
  }
}

async function generateKey(type: string, userId: string): Promise<{ publicKey: string; privateKey: string; fingerprint: string }> {
  const { publicKey, privateKey } = await generateRsa('rsa', { modulusLength: 2048, publicExponent: 65537 });
  const privatePem = privateKey.export({ type: 'pkcs1', format: 'pem' }).toString();
  const pub = type === 'x509' ? selfSignedClientCert(userId, publicKey, privateKey) : opensshRsaPublicKey(publicKey, 'Generated-by-Nova');
  return { publicKey: pub, privateKey: privatePem, fingerprint: fingerprintOf(type, pub) };
}

// ---- API

const CreateBody = Type.Object({
  keypair: Type.Object({
    name: NameSchema,
    type: Type.Optional(Type.Union([Type.Literal('ssh'), Type.Literal('x509')])),
    public_key: Type.Optional(Type.String()),
    user_id: Type.Optional(Type.String()),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;

/** Names Nova accepts before 2.92: letters, digits, '_', '-' and spaces; from 2.92 also '@' and '.'. */
const SAFE_NAME = /^[A-Za-z0-9_\- ]+$/;
const SAFE_NAME_2_92 = /^[A-Za-z0-9_\- @.]+$/;

/** Query parameters of the key-pair routes; unknown ones are refused from 2.75. */
const QUERY = ['user_id', 'limit', 'marker'];

function view(req: FastifyRequest, kp: KeyPair, extra: Record<string, unknown> = {}): Record<string, unknown> {
  const out: Record<string, unknown> = { name: kp.name, public_key: kp.publicKey, fingerprint: kp.fingerprint, ...extra };
  if (mvAtLeast(req, '2.2')) out.type = kp.type;
  return out;
}

/** The user a request acts for: `user_id` (from 2.10, admins or the user itself) or the caller. */
function targetUser(req: FastifyRequest, asked: string | undefined): string {
  strictQuery(req, req.method === 'GET' && !(req.params as { name?: string }).name ? QUERY : ['user_id']);
  if (asked === undefined || !mvAtLeast(req, '2.10')) return req.auth.userId;
  requireAdminOrSelf(req, { userId: asked });
  return asked;
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  routeBoth<{ Body: CreateBody }>(app, 'POST', '/os-keypairs', { policy: 'os_compute_api:os-keypairs:create', schema: { body: CreateBody } }, async (req, reply) => {
    const body = req.body.keypair;
    if (body.type !== undefined && !mvAtLeast(req, '2.2')) throw unexpectedProperty('keypair', 'type');
    if (body.user_id !== undefined && !mvAtLeast(req, '2.10')) throw unexpectedProperty('keypair', 'user_id');
    const userId = targetUser(req, body.user_id);
    if (!(mvAtLeast(req, '2.92') ? SAFE_NAME_2_92 : SAFE_NAME).test(body.name)) {
      throw new BadRequest('Keypair data is invalid: Keypair name contains unsafe characters');
    }
    // 2.92: Nova no longer generates key pairs; the public key is required.
    if (body.public_key === undefined && mvAtLeast(req, '2.92')) {
      throw new BadRequest("Invalid input for field/attribute keypair. Value: {...}. 'public_key' is a required property");
    }
    const type = body.type ?? 'ssh';
    const limits = await getProjectLimits(db, config, req.auth.projectId ?? '');
    let created: KeyPair;
    let privateKey: string | undefined;
    if (body.public_key !== undefined) {
      const fingerprint = fingerprintOf(type, body.public_key);
      created = await createKeyPair(db, { userId, name: body.name, publicKey: body.public_key, type, fingerprint }, limits.key_pairs!);
    } else {
      const generated = await generateKey(type, userId);
      created = await createKeyPair(db, { userId, name: body.name, publicKey: generated.publicKey, type, fingerprint: generated.fingerprint }, limits.key_pairs!);
      privateKey = generated.privateKey;
    }
    // 2.1 answers 200, later versions 201.
    reply.code(mvAtLeast(req, '2.2') ? 201 : 200);
    const out = view(req, created, { user_id: created.userId });
    if (privateKey !== undefined) out.private_key = privateKey;
    return { keypair: out };
  });

  routeBoth(app, 'GET', '/os-keypairs', { policy: 'os_compute_api:os-keypairs:index' }, async (req) => {
    const userId = targetUser(req, queryParam(req, 'user_id'));
    const paged = mvAtLeast(req, '2.35');
    const page = paged ? pageOf(req) : undefined;
    const pairs = await listKeyPairs(db, userId, page ? { limit: page.limit, marker: page.marker } : {});
    const out: Record<string, unknown> = { keypairs: pairs.map((kp) => ({ keypair: view(req, kp) })) };
    if (page) {
      const links = nextLinks(req, 'os-keypairs', page, pairs.length, pairs.at(-1)?.name);
      if (links.length > 0) out.keypairs_links = links;
    }
    return out;
  });

  routeBoth<{ Params: { name: string } }>(app, 'GET', '/os-keypairs/:name', { policy: 'os_compute_api:os-keypairs:show' }, async (req) => {
    const userId = targetUser(req, queryParam(req, 'user_id'));
    const kp = await getKeyPair(db, userId, req.params.name);
    if (!kp) throw new NotFound(`Keypair ${req.params.name} not found for user ${userId}`);
    return {
      keypair: view(req, kp, {
        user_id: kp.userId, created_at: isoMicros(kp.createdAt), deleted: false, deleted_at: null, id: kp.id, updated_at: null,
      }),
    };
  });

  routeBoth<{ Params: { name: string } }>(app, 'DELETE', '/os-keypairs/:name', { policy: 'os_compute_api:os-keypairs:delete' }, async (req, reply) => {
    const userId = targetUser(req, queryParam(req, 'user_id'));
    if (!(await deleteKeyPair(db, userId, req.params.name))) throw new NotFound(`Keypair ${req.params.name} not found for user ${userId}`);
    reply.code(mvAtLeast(req, '2.2') ? 204 : 202);
    return undefined;
  });
}
