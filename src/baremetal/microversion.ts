import type { FastifyInstance, FastifyRequest } from 'fastify';
import { OrreryError } from '../common/errors.js';

/**
 * Ironic's microversions: `X-OpenStack-Ironic-API-Version: 1.N` (or `latest`) chooses the
 * shapes; every answer names the range in X-OpenStack-Ironic-API-Minimum/Maximum-Version, which
 * python3-ironicclient reads to negotiate. 1.46 is the last version whose node fields this
 * service holds (conductor_group; 1.47 adds automated_clean, which it does not carry).
 */
export const MIN_MINOR = 1;
export const MAX_MINOR = 46;
export const MIN_VERSION = `1.${MIN_MINOR}`;
export const MAX_VERSION = `1.${MAX_MINOR}`;

const HEADER = 'x-openstack-ironic-api-version';

declare module 'fastify' {
  interface FastifyRequest {
    /** The minor version of the Bare Metal API this request asked for (1.x). */
    ironicMinor: number;
  }
}

class NotAcceptable extends OrreryError {
  constructor(message: string) {
    super(406, 'notAcceptable', message);
  }
}

/** The minor version a request asks for; no header is the minimum (Ironic's default). */
export function requestedMinor(req: FastifyRequest): number {
  const raw = req.headers[HEADER];
  const value = (Array.isArray(raw) ? raw[0] : raw)?.trim();
  if (value === undefined || value === '') return MIN_MINOR;
  if (value.toLowerCase() === 'latest') return MAX_MINOR;
  const m = /^(\d{1,3})\.(\d{1,3})$/.exec(value);
  if (!m) throw new NotAcceptable('Invalid value for X-OpenStack-Ironic-API-Version header');
  const [major, minor] = [Number(m[1]), Number(m[2])];
  const range = `The supported version range is: [${MIN_VERSION}, ${MAX_VERSION}].`;
  if (major !== 1) throw new NotAcceptable(`Mutually exclusive versions requested. Version ${value} requested but not supported by this service. ${range}`);
  if (minor < MIN_MINOR || minor > MAX_MINOR) {
    throw new NotAcceptable(`Version ${value} was requested but the minor version is not supported by this service. ${range}`);
  }
  return minor;
}

/** Parses the version on every /v1 request (406 out of range) and names the range on every answer. */
export function installMicroversions(app: FastifyInstance): void {
  app.decorateRequest('ironicMinor', MIN_MINOR);
  // On every answer, refusals included (the auth hook runs before this one's onRequest).
  app.addHook('onSend', async (_req, reply, payload) => {
    reply.header('x-openstack-ironic-api-minimum-version', MIN_VERSION);
    reply.header('x-openstack-ironic-api-maximum-version', MAX_VERSION);
    return payload;
  });
  app.addHook('onRequest', async (req, reply) => {
    if (!req.url.startsWith('/v1')) return;
    req.ironicMinor = requestedMinor(req);
    reply.header('x-openstack-ironic-api-version', `1.${req.ironicMinor}`);
    reply.header('vary', HEADER);
  });
}

/** The version document of v1 (in the root document and at /v1). */
export function versionDoc(base: string): Record<string, unknown> {
  return { id: 'v1', links: [{ href: `${base}/v1/`, rel: 'self' }], status: 'CURRENT', min_version: MIN_VERSION, version: MAX_VERSION };
}
