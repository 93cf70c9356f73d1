import type { FastifyInstance, FastifyReply, FastifyRequest, FastifySchema, HTTPMethods, RouteGenericInterface } from 'fastify';
import { Type } from '@sinclair/typebox';
import { BadRequest } from '../common/errors.js';
import { requestBaseUrl } from '../httpkit/app.js';
import { authorize } from '../httpkit/authorize.js';
import { PolicyNotAuthorized } from '../auth/policy/enforcer.js';

/**
 * What the resource routes of the compute API (flavors, keypairs, aggregates, …) share:
 * registration under both URL forms Nova answers, microversion checks, Nova's links and
 * pagination, and the JSON-schema fragments of Nova's parameter_types.
 */

import { mvAtLeast } from './microversion.js';

export { mvAtLeast };

type Handler<RG extends RouteGenericInterface> = (req: FastifyRequest<RG>, reply: FastifyReply) => Promise<unknown>;

export interface RouteOptions {
  schema?: FastifySchema;
  /** The route's policy rule name (see src/auth/policy-defaults.ts). */
  policy?: string;
  /** The route's rule is checked by the handler on the resource (see httpkit/authorize.ts). */
  policyInHandler?: boolean;
  /** The rules of the actions the route dispatches to, each checked by the handler. */
  actionPolicies?: readonly string[];
  /** HTTP status of a successful answer (Nova's @wsgi.response). */
  status?: number;
  /** The bodies the handler accepts when the route schema cannot say (see httpkit's bodyVariants). */
  bodyVariants?: readonly unknown[];
}

/**
 * Registers a route under /v2.1/<path> and /v2.1/{project_id}/<path>. Nova refuses a URL whose
 * project id is not the token's (400).
 */
export function routeBoth<RG extends RouteGenericInterface = RouteGenericInterface>(
  app: FastifyInstance, method: HTTPMethods, path: string, opts: RouteOptions, handler: Handler<RG>,
): void {
  for (const url of [`/v2.1${path}`, `/v2.1/:project_id${path}`]) {
    app.route({
      method,
      url,
      schema: opts.schema,
      config: {
        ...(opts.policy ? { policy: opts.policy } : {}), ...(opts.bodyVariants ? { bodyVariants: opts.bodyVariants } : {}),
        ...(opts.policyInHandler ? { policyInHandler: true } : {}), ...(opts.actionPolicies ? { actionPolicies: opts.actionPolicies } : {}),
      },
      handler: async (req: FastifyRequest, reply: FastifyReply) => {
        const urlProject = (req.params as { project_id?: string }).project_id;
        if (urlProject !== undefined && urlProject !== req.auth.projectId) {
          throw new BadRequest(
            `Malformed request URL: URL's project_id '${urlProject}' doesn't match Context's project_id '${req.auth.projectId ?? 'None'}'`,
          );
        }
        const body = await handler(req as unknown as FastifyRequest<RG>, reply);
        if (opts.status !== undefined) reply.code(opts.status);
        if (body === undefined) return reply.send();
        return body;
      },
    });
  }
}

/**
 * Nova's policy check on a target named by the request (the user of `?user_id=`, the project of
 * a quota set): the route's rule, or `rule`, with that user and project (else the caller's own).
 */
export function requireAdminOrSelf(req: FastifyRequest, owner: { userId?: string; projectId?: string }, rule = req.routeOptions.config.policy): void {
  if (rule === undefined) throw new Error(`${req.method} ${req.url}: the route names no policy rule`);
  authorize(req, rule, { project_id: owner.projectId ?? req.auth.projectId, user_id: owner.userId ?? req.auth.userId });
  // Another user's per-user figures stay the admin's, whatever the rule (per-user quotas decide later).
  if (owner.userId !== undefined && owner.userId !== req.auth.userId && !req.auth.isAdmin) throw new PolicyNotAuthorized(rule, 'nova');
}


// ---- links and pagination (Nova's ViewBuilder)

function urlProjectId(req: FastifyRequest): string {
  return (req.params as { project_id?: string }).project_id ?? '';
}

function joinUrl(...parts: string[]): string {
  return parts.filter((p) => p !== '').join('/');
}

/** The self and bookmark links of one resource, with the project id only when the URL had one. */
export function resourceLinks(req: FastifyRequest, collection: string, id: string | number): Array<{ rel: string; href: string }> {
  const base = requestBaseUrl(req);
  const project = urlProjectId(req);
  return [
    { rel: 'self', href: joinUrl(`${base}/v2.1`, project, collection, String(id)) },
    { rel: 'bookmark', href: joinUrl(base, project, collection, String(id)) },
  ];
}

/** Nova's [api] max_limit: no page is longer. */
export const MAX_LIMIT = 1000;

export interface Page {
  limit: number;
  marker?: string;
}

function firstParam(v: unknown): string | undefined {
  if (Array.isArray(v)) return v.length > 0 ? String(v[0]) : undefined;
  return v === undefined ? undefined : String(v);
}

/** A query parameter (the first when repeated). */
export function queryParam(req: FastifyRequest, name: string): string | undefined {
  return firstParam((req.query as Record<string, unknown> | undefined)?.[name]);
}

/** `limit` and `marker` from the query string (Nova's get_limit_and_marker). */
export function pageOf(req: FastifyRequest): Page {
  const raw = queryParam(req, 'limit');
  let limit = MAX_LIMIT;
  if (raw !== undefined) {
    if (!/^-?\d+$/.test(raw.trim())) throw new BadRequest('limit param must be an integer');
    const n = Number(raw);
    if (n < 0) throw new BadRequest('limit param must be positive');
    limit = Math.min(n, MAX_LIMIT);
  }
  return { limit, marker: queryParam(req, 'marker') };
}

/** The `<collection>_links` entry: a next link when the page is full. */
export function nextLinks(req: FastifyRequest, collection: string, page: Page, count: number, lastId: string | number | undefined): Array<{ rel: string; href: string }> {
  if (page.limit === 0 || count !== page.limit || lastId === undefined) return [];
  const params = new URLSearchParams();
  const query = (req.query as Record<string, unknown> | undefined) ?? {};
  for (const key of Object.keys(query).sort()) {
    if (key === 'marker') continue;
    const v = firstParam(query[key]);
    if (v !== undefined) params.set(key, v);
  }
  params.set('marker', String(lastId));
  const href = `${joinUrl(`${requestBaseUrl(req)}/v2.1`, urlProjectId(req), collection)}?${params.toString()}`;
  return [{ rel: 'next', href }];
}

// ---- schema fragments (Nova's parameter_types)

/** Nova's `name`: 1–255 characters without leading or trailing whitespace. */
export const NameSchema = Type.String({ minLength: 1, maxLength: 255, pattern: '^\\S(.*\\S)?$' });

/** Nova's `boolean`: JSON booleans and the strings oslo accepts. */
const BOOLEAN_WORDS = ['True', 'TRUE', 'true', '1', 'ON', 'On', 'on', 'YES', 'Yes', 'yes', 'False', 'FALSE', 'false', '0', 'OFF', 'Off', 'off', 'NO', 'No', 'no'];
export const BooleanSchema = Type.Union([Type.Boolean(), Type.Unsafe<string>({ type: 'string', enum: BOOLEAN_WORDS })]);

/** Interprets a value BooleanSchema accepted. */
export function toBool(v: boolean | string): boolean {
  return typeof v === 'boolean' ? v : /^(true|1|on|yes)$/i.test(v);
}

/** oslo's strict bool_from_string for query parameters; undefined when not a boolean word. */
export function parseBoolParam(v: string): boolean | undefined {
  if (/^(true|1|on|yes|y|t)$/i.test(v.trim())) return true;
  if (/^(false|0|off|no|n|f)$/i.test(v.trim())) return false;
  return undefined;
}

/** Nova's `fqdn` host names. */
export const HostSchema = Type.String({ minLength: 1, maxLength: 255, pattern: '^[a-zA-Z0-9-._]*$' });

/** Nova's MAX_INT (the largest value its integer columns hold). */
export const MAX_INT = 0x7fffffff;

/** An integer given as a JSON number or a string of digits (Nova accepts both). */
export function intOrString(opts: { minimum: number; maximum: number; pattern?: string }) {
  return Type.Union([Type.Integer({ minimum: opts.minimum, maximum: opts.maximum }), Type.String({ pattern: opts.pattern ?? '^[0-9]+$' })]);
}

/** The integer value of an `intOrString` field, range-checked (the schema checks numbers, this strings). */
export function intValue(field: string, v: number | string, minimum: number, maximum: number): number {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isSafeInteger(n)) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is not an integer`);
  if (n < minimum) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is less than the minimum of ${minimum}`);
  if (n > maximum) throw new BadRequest(`Invalid input for field/attribute ${field}. Value: ${v}. ${v} is greater than the maximum of ${maximum}`);
  return n;
}

/**
 * An integer id in the path as Nova's validate_integer takes it (aggregates, services before
 * 2.53): a negative one is valid and simply matches nothing (404), a non-integer is a 400.
 */
export function signedIntegerId(raw: string): number | null {
  return /^-?\d{1,10}$/.test(raw) && Math.abs(Number(raw)) <= MAX_INT ? Number(raw) : null;
}

/** An id in the path that must be an integer (aggregates, services, hypervisors). */
export function integerId(raw: string): number | null {
  return /^\d{1,10}$/.test(raw) && Number(raw) <= MAX_INT ? Number(raw) : null;
}

/**
 * From 2.75 Nova's query schemas refuse parameters they do not name (additionalProperties:
 * false); below it unknown ones are ignored. `allowed` is the route's query schema.
 */
export function strictQuery(req: FastifyRequest, allowed: readonly string[], since = '2.75'): void {
  if (!mvAtLeast(req, since)) return;
  const query = (req.query as Record<string, unknown> | undefined) ?? {};
  for (const key of Object.keys(query)) {
    if (!allowed.includes(key)) {
      throw new BadRequest(`Invalid input for query parameters ${key}. Value: ${String(firstParam(query[key]))}. Additional properties are not allowed ('${key}' was unexpected)`);
    }
  }
}
