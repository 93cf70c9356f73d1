import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../common/config.js';
import { BadRequest, NotFound, OrreryError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { TokenValidator } from '../auth/context.js';
import { isCustomResourceClass, isResourceClass, isStandardResourceClass, MAX_RESOURCE_AMOUNT } from '../common/resource-classes.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Db } from '../db/connection.js';
import {
  aggregateUuidsOfHost, allocationsOfConsumer, allocationsOnProvider, consumerOwner, getResourceProvider, listResourceProviders,
  providerInventories, providerInventory, providerTraits, providerUsages, type ResourceProvider,
} from '../db/placement.js';
import { createResourceClass, listResourceClasses, resourceClassExists } from '../db/resource-classes.js';
import { createApp } from '../httpkit/app.js';

/**
 * A Placement API over the compute nodes: resource providers (one per node), their
 * inventories, usages, allocations, aggregates and traits — what operators and tests inspect —
 * and the resource classes, of which custom ones may be created (`PUT /resource_classes/CUSTOM_X`).
 * Inventories and allocations are written by the services, not through this API. Generations
 * are not tracked and read as 0. All but the version document is admin only, as in
 * Placement's default policy.
 */

export const PLACEMENT_MIN_VERSION = '1.0';
export const PLACEMENT_MAX_VERSION = '1.14';

export interface PlacementDeps {
  db: Db;
  config: Config;
  log: Logger;
  tokens: TokenValidator;
  policy: PolicyEnforcer;
}

type Version = [number, number];
const parseVersion = (v: string): Version => v.split('.').map(Number) as Version;
const compare = (a: Version, b: Version): number => a[0] - b[0] || a[1] - b[1];
const atLeast = (a: Version, b: string): boolean => compare(a, parseVersion(b)) >= 0;

class NotAcceptable extends OrreryError {
  constructor(message: string) {
    super(406, 'notAcceptable', message);
  }
}

/** `OpenStack-API-Version: placement 1.x`; 1.0 when absent, the maximum for `latest`. */
function negotiate(req: FastifyRequest): Version {
  let asked: string | undefined;
  const raw = req.headers['openstack-api-version'];
  for (const part of (Array.isArray(raw) ? raw : [raw ?? '']).flatMap((v) => v.split(','))) {
    const m = /^\s*placement\s+(\S+)\s*$/i.exec(part);
    if (m) asked = m[1];
  }
  if (asked === undefined) return parseVersion(PLACEMENT_MIN_VERSION);
  if (asked.toLowerCase() === 'latest') return parseVersion(PLACEMENT_MAX_VERSION);
  if (!/^\d+\.\d+$/.test(asked)) throw new BadRequest(`invalid version string: ${asked}`);
  const v = parseVersion(asked);
  if (compare(v, parseVersion(PLACEMENT_MIN_VERSION)) < 0 || compare(v, parseVersion(PLACEMENT_MAX_VERSION)) > 0) {
    throw new NotAcceptable(`Unacceptable version header: ${asked}`);
  }
  return v;
}

export function createPlacementApp(deps: PlacementDeps): FastifyInstance {
  const { db } = deps;
  const app = createApp({ name: 'placement', format: 'nova', tokens: deps.tokens, log: deps.log, requireProjectScope: true, policy: { enforcer: deps.policy, style: 'placement' } });
  const versions = new WeakMap<FastifyRequest, Version>();
  const versionOf = (req: FastifyRequest): Version => versions.get(req) ?? parseVersion(PLACEMENT_MIN_VERSION);

  app.addHook('onRequest', async (req, reply) => {
    reply.header('vary', 'openstack-api-version');
    if (req.routeOptions.config?.public) return;
    const v = negotiate(req);
    versions.set(req, v);
    reply.header('openstack-api-version', `placement ${v.join('.')}`);
  });

  app.get('/', { config: { public: true } }, async () => ({
    versions: [{
      id: 'v1.0', max_version: PLACEMENT_MAX_VERSION, min_version: PLACEMENT_MIN_VERSION, status: 'CURRENT',
      links: [{ rel: 'self', href: '' }],
    }],
  }));

  const provider = async (uuid: string): Promise<ResourceProvider> => {
    const node = await getResourceProvider(db, uuid);
    if (!node) throw new NotFound(`No resource provider with uuid ${uuid} found`);
    return node;
  };

  const providerView = (req: FastifyRequest, node: { uuid: string; hypervisor_hostname: string }): Record<string, unknown> => {
    const v = versionOf(req);
    const base = `/resource_providers/${node.uuid}`;
    const links = [
      { rel: 'self', href: base },
      { rel: 'inventories', href: `${base}/inventories` },
      { rel: 'usages', href: `${base}/usages` },
    ];
    if (atLeast(v, '1.1')) links.push({ rel: 'aggregates', href: `${base}/aggregates` });
    if (atLeast(v, '1.6')) links.push({ rel: 'traits', href: `${base}/traits` });
    if (atLeast(v, '1.11')) links.push({ rel: 'allocations', href: `${base}/allocations` });
    const out: Record<string, unknown> = { uuid: node.uuid, name: node.hypervisor_hostname, generation: 0 };
    if (atLeast(v, '1.14')) {
      out.parent_provider_uuid = null;
      out.root_provider_uuid = node.uuid;
    }
    out.links = links;
    return out;
  };

  app.get('/resource_providers', { config: { policy: 'placement:resource_providers:list' } }, async (req) => {
    const query = (req.query ?? {}) as Record<string, unknown>;
    const known = ['name', 'uuid', ...(atLeast(versionOf(req), '1.4') ? ['resources'] : [])];
    const unknown = Object.keys(query).filter((k) => !known.includes(k));
    if (unknown.length > 0) throw new BadRequest(`Invalid query string parameters: ${unknown.join(', ')}`);
    // Providers with room for every amount asked (the claim's test), as Placement's 1.4 filter.
    if (query.resources !== undefined && typeof query.resources !== 'string') throw new BadRequest('resources may be given once');
    const nodes = await listResourceProviders(db, {
      name: typeof query.name === 'string' ? query.name : undefined,
      uuid: typeof query.uuid === 'string' ? query.uuid : undefined,
      resources: typeof query.resources === 'string' ? resourcesParam(query.resources) : [],
    });
    return { resource_providers: nodes.map((n) => providerView(req, n)) };
  });

  type P = { Params: { uuid: string } };

  app.get<P>('/resource_providers/:uuid', { config: { policy: 'placement:resource_providers:show' } }, async (req) => providerView(req, await provider(req.params.uuid)));

  app.get<P>('/resource_providers/:uuid/inventories', { config: { policy: 'placement:resource_providers:inventories:list' } }, async (req) => {
    const node = await provider(req.params.uuid);
    const rows = await providerInventories(db, node.uuid);
    return {
      inventories: Object.fromEntries(rows.map((r) => [r.resource_class, {
        allocation_ratio: r.allocation_ratio, max_unit: r.max_unit, min_unit: r.min_unit, reserved: r.reserved, step_size: r.step_size, total: r.total,
      }])),
      resource_provider_generation: 0,
    };
  });

  app.get<{ Params: { uuid: string; rc: string } }>('/resource_providers/:uuid/inventories/:rc', {
    config: { policy: 'placement:resource_providers:inventories:show' },
  }, async (req) => {
    const node = await provider(req.params.uuid);
    const r = await providerInventory(db, node.uuid, req.params.rc);
    if (!r) throw new NotFound(`No inventory of class ${req.params.rc.slice(0, 255)} for ${node.uuid}`);
    return {
      allocation_ratio: r.allocation_ratio, max_unit: r.max_unit, min_unit: r.min_unit, reserved: r.reserved, step_size: r.step_size, total: r.total,
      resource_provider_generation: 0,
    };
  });

  app.get<P>('/resource_providers/:uuid/usages', { config: { policy: 'placement:resource_providers:usages' } }, async (req) => {
    const node = await provider(req.params.uuid);
    const rows = await providerUsages(db, node.uuid);
    return { usages: Object.fromEntries(rows.map((r) => [r.resource_class, r.used])), resource_provider_generation: 0 };
  });

  app.get<P>('/resource_providers/:uuid/traits', { config: { policy: 'placement:resource_providers:traits:list' } }, async (req) => {
    const node = await provider(req.params.uuid);
    return { traits: await providerTraits(db, node.uuid), resource_provider_generation: 0 };
  });

  app.get<P>('/resource_providers/:uuid/aggregates', { config: { policy: 'placement:resource_providers:aggregates:list' } }, async (req) => {
    if (!atLeast(versionOf(req), '1.1')) throw new NotFound('The resource could not be found.');
    const node = await provider(req.params.uuid);
    return { aggregates: await aggregateUuidsOfHost(db, node.host) };
  });

  app.get<P>('/resource_providers/:uuid/allocations', { config: { policy: 'placement:resource_providers:allocations:list' } }, async (req) => {
    if (!atLeast(versionOf(req), '1.11')) throw new NotFound('The resource could not be found.');
    const node = await provider(req.params.uuid);
    const rows = await allocationsOnProvider(db, node.uuid);
    const allocations: Record<string, { resources: Record<string, number> }> = {};
    for (const r of rows) (allocations[r.consumer_uuid] ??= { resources: {} }).resources[r.resource_class] = r.used;
    return { allocations, resource_provider_generation: 0 };
  });

  app.get<{ Params: { consumer: string } }>('/allocations/:consumer', { config: { policy: 'placement:allocations:list' } }, async (req) => {
    const rows = await allocationsOfConsumer(db, req.params.consumer);
    const allocations: Record<string, { generation: number; resources: Record<string, number> }> = {};
    for (const r of rows) (allocations[r.node_uuid] ??= { generation: 0, resources: {} }).resources[r.resource_class] = r.used;
    const out: Record<string, unknown> = { allocations };
    if (atLeast(versionOf(req), '1.12') && rows.length > 0) {
      const owner = await consumerOwner(db, req.params.consumer);
      if (owner) Object.assign(out, { project_id: owner.project_id, user_id: owner.user_id });
    }
    return out;
  });

  // ---- resource classes (1.2; PUT creates since 1.7)

  const classView = (name: string) => ({ name, links: [{ rel: 'self', href: `/resource_classes/${name}` }] });
  const since = (req: FastifyRequest, v: string): void => {
    if (!atLeast(versionOf(req), v)) throw new NotFound('The resource could not be found.');
  };
  type C = { Params: { name: string } };

  app.get('/resource_classes', { config: { policy: 'placement:resource_classes:list' } }, async (req) => {
    since(req, '1.2');
    return { resource_classes: (await listResourceClasses(db)).map(classView) };
  });

  app.get<C>('/resource_classes/:name', { config: { policy: 'placement:resource_classes:show' } }, async (req) => {
    since(req, '1.2');
    const { name } = req.params;
    if (!isResourceClass(name) || !(await resourceClassExists(db, name))) throw new NotFound(`No such resource class ${name.slice(0, 255)}.`);
    return classView(name);
  });

  app.put<C>('/resource_classes/:name', { config: { policy: 'placement:resource_classes:update' } }, async (req, reply) => {
    since(req, '1.7');
    const { name } = req.params;
    if (isStandardResourceClass(name)) throw new BadRequest(`Cannot update standard resource class ${name}`);
    if (!isCustomResourceClass(name)) {
      throw new BadRequest(`'${name.slice(0, 64)}' is not a custom resource class: CUSTOM_ followed by A-Z, 0-9 and _, at most 255 characters`);
    }
    const created = await createResourceClass(db, name);
    if (created) reply.header('location', `/resource_classes/${name}`);
    reply.code(created ? 201 : 204);
    return reply.send();
  });

  return app;
}

/** Most classes one `resources=` filter may name (Placement has no bound; this protects the query). */
const MAX_FILTER_CLASSES = 32;

/** `resources=VCPU:2,CUSTOM_BAREMETAL_SMALL:1` → its pairs; a bad class or amount is a 400. */
function resourcesParam(raw: string): Array<[string, number]> {
  const parts = raw.split(',');
  if (parts.length > MAX_FILTER_CLASSES) throw new BadRequest(`At most ${MAX_FILTER_CLASSES} resource classes may be asked for.`);
  const out = new Map<string, number>();
  for (const part of parts) {
    const m = /^([^:]*):(\d{1,10})$/.exec(part.trim());
    if (!m || !isResourceClass(m[1]!)) throw new BadRequest(`Invalid resource class in resources parameter: ${part.slice(0, 64)}`);
    const n = Number(m[2]);
    if (n < 1 || n > MAX_RESOURCE_AMOUNT) throw new BadRequest(`Requested resource ${m[1]} expected positive integer amount.`);
    out.set(m[1]!, n);
  }
  return [...out];
}
