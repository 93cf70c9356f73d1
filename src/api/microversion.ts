import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { BadRequest, NotFound, OrreryError } from '../common/errors.js';

/**
 * Compute API microversions (Nova's api_version_request): the client asks with
 * `OpenStack-API-Version: compute 2.X` or the legacy `X-OpenStack-Nova-API-Version: 2.X`;
 * no header means the minimum, "latest" the maximum.
 */
export const MIN_MICROVERSION = '2.1';
export const MAX_MICROVERSION = '2.93';

declare module 'fastify' {
  interface FastifyRequest {
    /** The negotiated compute microversion, e.g. "2.19" (set on every /v2.1 request). */
    microversion: string;
  }
}

const VERSION_RE = /^([1-9]\d*)\.([1-9]\d*|0)$/;

function parse(v: string): [number, number] {
  const m = VERSION_RE.exec(v);
  if (!m) throw new Error(`not a microversion: ${v}`);
  return [Number(m[1]), Number(m[2])];
}

/** Compares two microversions: negative, zero or positive like a sort comparator. */
export function compareMicroversions(a: string, b: string): number {
  const [am, an] = parse(a);
  const [bm, bn] = parse(b);
  return am !== bm ? am - bm : an - bn;
}

/** True when the request's negotiated microversion is at least `v`. */
export function mvAtLeast(req: FastifyRequest, v: string): boolean {
  return compareMicroversions(req.microversion || MIN_MICROVERSION, v) >= 0;
}

/** True when the request's microversion lies in [min, max] (max optional). */
export function mvBetween(req: FastifyRequest, min: string, max?: string): boolean {
  const v = req.microversion || MIN_MICROVERSION;
  return compareMicroversions(v, min) >= 0 && (max === undefined || compareMicroversions(v, max) <= 0);
}

/** A resource that exists only from microversion `v` on answers 404 below it, as Nova does. */
export function requireMicroversion(req: FastifyRequest, v: string): void {
  if (!mvAtLeast(req, v)) throw new NotFound('The resource could not be found.');
}

/** Nova answers 406 (rendered as computeFault) for a well-formed version out of range. */
class VersionNotAcceptable extends OrreryError {
  constructor(version: string) {
    super(406, 'computeFault',
      `Version ${version} is not supported by the API. Minimum is ${MIN_MICROVERSION} and maximum is ${MAX_MICROVERSION}.`);
  }
}

function headerValues(req: FastifyRequest, name: string): string[] {
  const raw = req.headers[name];
  if (raw === undefined) return [];
  return (Array.isArray(raw) ? raw : [raw]).flatMap((v) => v.split(','));
}

/** The version the client asked for, or null when it asked for none (microversion_parse's rules). */
export function requestedMicroversion(req: FastifyRequest): string | null {
  for (const item of headerValues(req, 'openstack-api-version')) {
    const [service, version, ...rest] = item.trim().split(/\s+/);
    if (service?.toLowerCase() === 'compute' && version !== undefined && rest.length === 0) return version;
  }
  const legacy = headerValues(req, 'x-openstack-nova-api-version').map((s) => s.trim()).filter(Boolean);
  return legacy.length > 0 ? legacy[legacy.length - 1]! : null;
}

/** Negotiates the version of one request; throws 400 for a malformed and 406 for an unsupported one. */
export function negotiateMicroversion(requested: string | null): string {
  if (requested === null) return MIN_MICROVERSION;
  if (requested.toLowerCase() === 'latest') return MAX_MICROVERSION;
  if (!VERSION_RE.test(requested)) {
    throw new BadRequest(`API Version String ${requested} is of invalid format. Must be of format MajorNum.MinorNum.`);
  }
  if (compareMicroversions(requested, MIN_MICROVERSION) < 0 || compareMicroversions(requested, MAX_MICROVERSION) > 0) {
    throw new VersionNotAcceptable(requested);
  }
  return requested;
}

function setVersionHeaders(reply: FastifyReply, version: string): void {
  reply.header('openstack-api-version', `compute ${version}`);
  reply.header('x-openstack-nova-api-version', version);
  reply.header('vary', 'OpenStack-API-Version, X-OpenStack-Nova-API-Version');
}

/**
 * Adds `req.microversion` and negotiates it on every request under /v2.1 (after authentication,
 * as Nova sits behind keystonemiddleware); responses, errors included, carry the version headers.
 */
export function installMicroversions(app: FastifyInstance): void {
  app.decorateRequest('microversion', '');
  app.addHook('onRequest', async (req, reply) => {
    if (!/^\/v2\.1(\/|$|\?)/.test(req.url)) return;
    req.microversion = negotiateMicroversion(requestedMicroversion(req));
    setVersionHeaders(reply, req.microversion);
  });
}
