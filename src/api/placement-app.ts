import type { FastifyInstance, FastifyRequest } from 'fastify';
import type { Config } from '../common/config.js';
import { BadRequest, NotFound, OrreryError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { TokenValidator } from '../auth/context.js';
import type { PolicyEnforcer } from '../auth/policy/enforcer.js';
import type { Db } from '../db/connection.js';
import { createApp } from '../httpkit/app.js';

/**
 * A read-only Placement API over the compute nodes: resource providers (one per node), their
 * inventories, usages, allocations, aggregates and traits — what operators and tests inspect.
 * Generations are not tracked and read as 0. All but the version document is admin only, as
 * in Placement's default policy.
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

  const provider = async (uuid: string): Promise<{ uuid: string; hypervisor_hostname: string; host: string }> => {
    const node = await db.selectFrom('compute_nodes').select(['uuid', 'hypervisor_hostname', 'host'])
      .where('uuid', '=', uuid).where('deleted', '=', 0).executeTakeFirst();
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
    const unknown = Object.keys(query).filter((k) => k !== 'name' && k !== 'uuid');
    if (unknown.length > 0) throw new BadRequest(`Invalid query string parameters: ${unknown.join(', ')}`);
    let q = db.selectFrom('compute_nodes').select(['uuid', 'hypervisor_hostname']).where('deleted', '=', 0);
    if (typeof query.name === 'string') q = q.where('hypervisor_hostname', '=', query.name);
    if (typeof query.uuid === 'string') q = q.where('uuid', '=', query.uuid);
    const nodes = await q.orderBy('id').execute();
    return { resource_providers: nodes.map((n) => providerView(req, n)) };
  });

  type P = { Params: { uuid: string } };

  app.get<P>('/resource_providers/:uuid', { config: { policy: 'placement:resource_providers:show' } }, async (req) => providerView(req, await provider(req.params.uuid)));

  app.get<P>('/resource_providers/:uuid/inventories', { config: { policy: 'placement:resource_providers:inventories:list' } }, async (req) => {
    const node = await provider(req.params.uuid);
    const rows = await db.selectFrom('inventories').selectAll().where('node_uuid', '=', node.uuid).orderBy('resource_class').execute();
    return {
      inventories: Object.fromEntries(rows.map((r) => [r.resource_class, {
        allocation_ratio: r.allocation_ratio, max_unit: r.max_unit, min_unit: r.min_unit, reserved: r.reserved, step_size: r.step_size, total: r.total,
      }])),
      resource_provider_generation: 0,
    };
  });

  app.get<P>('/resource_providers/:uuid/usages', { config: { policy: 'placement:resource_providers:usages' } }, async (req) => {
    const node = await provider(req.params.uuid);
    const rows = await db.selectFrom('inventories').select(['resource_class', 'used']).where('node_uuid', '=', node.uuid).orderBy('resource_class').execute();
    return { usages: Object.fromEntries(rows.map((r) => [r.resource_class, r.used])), resource_provider_generation: 0 };
  });

  app.get<P>('/resource_providers/:uuid/traits', { config: { policy: 'placement:resource_providers:traits:list' } }, async (req) => {
    const node = await provider(req.params.uuid);
    const rows = await db.selectFrom('node_traits').select('trait').where('node_uuid', '=', node.uuid).orderBy('trait').execute();
    return { traits: rows.map((r) => r.trait), resource_provider_generation: 0 };
  });

  app.get<P>('/resource_providers/:uuid/aggregates', { config: { policy: 'placement:resource_providers:aggregates:list' } }, async (req) => {
    if (!atLeast(versionOf(req), '1.1')) throw new NotFound('The resource could not be found.');
    const node = await provider(req.params.uuid);
    const rows = await db.selectFrom('aggregate_hosts as ah')
      .innerJoin('aggregates as a', (j) => j.onRef('a.id', '=', 'ah.aggregate_id').on('a.deleted', '=', 0))
      .select('a.uuid').where('ah.host', '=', node.host).orderBy('a.uuid').execute();
    return { aggregates: rows.map((r) => r.uuid) };
  });

  app.get<P>('/resource_providers/:uuid/allocations', { config: { policy: 'placement:resource_providers:allocations:list' } }, async (req) => {
    if (!atLeast(versionOf(req), '1.11')) throw new NotFound('The resource could not be found.');
    const node = await provider(req.params.uuid);
    const rows = await db.selectFrom('allocations').selectAll().where('node_uuid', '=', node.uuid).orderBy('consumer_uuid').execute();
    const allocations: Record<string, { resources: Record<string, number> }> = {};
    for (const r of rows) (allocations[r.consumer_uuid] ??= { resources: {} }).resources[r.resource_class] = r.used;
    return { allocations, resource_provider_generation: 0 };
  });

  return app;
}
