import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Config } from '../common/config.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { instanceIdSignatureValid, metadataProxySecret } from '../common/metadata-secret.js';
import type { Db } from '../db/connection.js';
import { getInstanceRow } from '../db/instances.js';
import { instanceMetadata } from '../db/instance-metadata.js';
import { getInstancePassword, setInstancePasswordOnce } from '../db/instance-passwords.js';
import { getKeyPair } from '../db/keypairs.js';
import type { CachedVif } from '../db/schema-network.js';
import { createApp } from '../httpkit/app.js';
import type { NetworkClient } from '../clients/network-client.js';
import { lookupMetadata, passwordPath, type InstanceFacts } from './metadata-documents.js';
import { MetadataNetworkFacts } from './metadata-facts.js';

/**
 * Nova's metadata API (nova-api-metadata) behind Neutron's metadata proxy, on `[api]
 * metadata_port` (8775): served only for requests whose X-Instance-ID the proxy's forwarder
 * signed with the shared secret (Nova's `service_metadata_proxy` mode; there is no lookup by
 * source address here, since addresses overlap between networks). No token: the routes are
 * public to the HTTP kit and authenticated by the signature.
 */

export interface MetadataAppOptions {
  db: Db;
  config: Config;
  tokens: TokenValidator;
  log: Logger;
  policy: PolicyEnforcer;
  /** The Network API with the service user's credentials (subnets, security groups); null: the info cache alone. */
  network: () => NetworkClient | null;
}

/** Longest password a guest may post (Nova's MAX_SIZE). */
const MAX_PASSWORD = 256;

/** Longest header value read (instance ids and project ids are 36 characters, signatures 64). */
const MAX_HEADER = 255;

/** One value of a header; a repeated header (node joins them with `, `) is refused as Nova does. */
function header(req: FastifyRequest, name: string, label: string): string | undefined {
  const v = req.headers[name];
  if (v === undefined) return undefined;
  if (Array.isArray(v) || v.includes(',')) throw new BadRequest(`Multiple ${label} headers found within request.`);
  if (v.length > MAX_HEADER) throw new BadRequest(`The ${label} header is too long.`);
  return v;
}

function parseCache(text: string | null): CachedVif[] {
  if (!text) return [];
  try {
    const v = JSON.parse(text) as unknown;
    return Array.isArray(v) ? (v as CachedVif[]).filter((x) => x && typeof x.port_id === 'string' && Array.isArray(x.fixed_ips)) : [];
  } catch {
    return [];
  }
}

export function createMetadataApp(opts: MetadataAppOptions): FastifyInstance {
  const app = createApp({ name: 'metadata', format: 'nova', tokens: opts.tokens, log: opts.log, policy: { enforcer: opts.policy, style: 'nova' } });
  const secret = metadataProxySecret(opts.config);
  const dhcpDomain = opts.config.opt('api', 'dhcp_domain') ?? 'novalocal';
  const network = new MetadataNetworkFacts(opts.network, opts.log);

  async function facts(req: FastifyRequest): Promise<InstanceFacts> {
    const instanceId = header(req, 'x-instance-id', 'X-Instance-ID');
    if (instanceId === undefined) throw new BadRequest('X-Instance-ID header is missing from request.');
    const signature = header(req, 'x-instance-id-signature', 'X-Instance-ID-Signature');
    if (signature === undefined) throw new Forbidden('X-Instance-ID-Signature header is missing from request.');
    const tenantId = header(req, 'x-tenant-id', 'X-Tenant-ID');
    if (tenantId === undefined) throw new BadRequest('X-Tenant-ID header is missing from request.');
    const remote = header(req, 'x-forwarded-for', 'X-Forwarded-For') ?? '';
    if (!instanceIdSignatureValid(secret, instanceId, signature)) {
      req.log.warn({ instanceId, remote }, 'metadata request with an invalid X-Instance-ID-Signature');
      throw new Forbidden('Invalid proxy request signature.');
    }
    const row = await getInstanceRow(opts.db, instanceId);
    // Another project's instance looks exactly like none (Nova: 404 on a tenant mismatch).
    if (!row || row.project_id !== tenantId) throw new NotFound('The resource could not be found.');
    const vifs = parseCache(row.network_info);
    const [meta, key, password, net] = await Promise.all([
      instanceMetadata(opts.db, row.uuid),
      row.key_name ? getKeyPair(opts.db, row.user_id, row.key_name) : Promise.resolve(null),
      getInstancePassword(opts.db, row.uuid),
      network.of(row.uuid, vifs),
    ]);
    let flavorName = '';
    try {
      flavorName = String((JSON.parse(row.flavor) as { name?: unknown }).name ?? '');
    } catch {
      // an unreadable flavor snapshot leaves the name empty
    }
    return {
      uuid: row.uuid, internalId: row.id, name: row.display_name,
      hostname: `${row.hostname}${dhcpDomain ? `.${dhcpDomain}` : ''}`,
      projectId: row.project_id,
      availabilityZone: row.availability_zone ?? opts.config.str('DEFAULT', 'default_availability_zone'),
      launchIndex: row.launch_index, reservationId: row.reservation_id, imageRef: row.image_ref, flavorName,
      keyName: row.key_name, keyData: row.key_data, keyType: key?.type ?? 'ssh',
      userData: row.user_data === null ? null : Buffer.from(row.user_data, 'base64'),
      meta: new Map(Object.entries(meta)),
      vifs, subnets: net.subnets, securityGroups: net.securityGroups,
      remoteAddress: remote, password,
    };
  }

  const serve = async (req: FastifyRequest, reply: FastifyReply): Promise<unknown> => {
    const f = await facts(req);
    let path: string;
    try {
      path = decodeURIComponent(req.url.split('?')[0]!);
    } catch {
      throw new NotFound('The resource could not be found.');
    }
    const answer = lookupMetadata(f, path);
    if (!answer) throw new NotFound('The resource could not be found.');
    return reply.type(answer.contentType).send(answer.body);
  };
  // A guest posts its encrypted password as text of any type (cloudbase-init, Windows guests).
  app.addContentTypeParser('*', { parseAs: 'string', bodyLimit: 4 * MAX_PASSWORD }, (_req, body, done) => done(null, body));
  app.get('/', { config: { public: true } }, serve);
  app.get('/*', { config: { public: true } }, serve);
  // Nova's handle_password: POST once (409 while one is set), at most 256 bytes (400).
  app.post('/*', { config: { public: true }, bodyLimit: 4 * MAX_PASSWORD }, async (req, reply) => {
    const f = await facts(req);
    if (!passwordPath(req.url.split('?')[0]!)) throw new NotFound('The resource could not be found.');
    const body = req.body ?? '';
    if (typeof body !== 'string') throw new BadRequest('The password must be sent as text.');
    if (Buffer.byteLength(body, 'utf8') > MAX_PASSWORD) throw new BadRequest('Request is too large.');
    if (f.password !== '' || !(await setInstancePasswordOnce(opts.db, f.uuid, body))) throw new Conflict('The password of this server is already set.');
    return reply.code(200).type('text/plain').send('');
  });
  return app;
}
