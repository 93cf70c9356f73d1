import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import type { Db } from '../db/connection.js';
import {
  deleteRouterRow, getRouterRow, getSubnetsByIds, insertRouter, listRouterRows, routerPorts, ROUTER_GATEWAY_OWNER, scheduleRouters, updateRouterRow, type RouterRow,
} from '../db/network-routers.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import { badRequest, bit, Description, IdParams, Name, nowIso, ProjectId, requestedProject, Tags, viewerOf } from './common.js';
import { cidrContains, formatCidr, parseCidr, parseIp } from './ip.js';
import { fieldsOf, listAnswer, pickFields } from './list-kit.js';
import { networkOpt, type NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';
import {
  gatewayIps, interfacesOf, ROUTER_ATTRIBUTES, routerInUse, routerNotFound, routerView, routerViewOf, visibleRouter,
} from './router-common.js';
import { applyGateway, authorizeGateway, clearsGateway, type GatewayInfo } from './router-gateway.js';
import { deleteServicePort } from './router-ports.js';

/** /v2.0/routers: Neutron's l3 routers with external gateways and extraroute's static routes. */

/** Neutron's `max_routes` default: static routes one router may hold. */
export const MAX_ROUTES = 30;

const FixedIp = Type.Object({
  subnet_id: Type.Optional(Type.String({ maxLength: 255 })), ip_address: Type.Optional(Type.String({ maxLength: 64 })),
}, { additionalProperties: false });
const GatewayBody = Type.Union([Type.Null(), Type.Object({
  network_id: Type.Optional(Type.String({ maxLength: 255 })), enable_snat: Type.Optional(Type.Boolean()),
  external_fixed_ips: Type.Optional(Type.Array(FixedIp, { maxItems: 8 })),
}, { additionalProperties: false })]);
const Route = Type.Object({ destination: Type.String({ maxLength: 64 }), nexthop: Type.String({ maxLength: 64 }) }, { additionalProperties: false });
const Routes = Type.Array(Route, { maxItems: MAX_ROUTES * 4 });

const CreateBody = Type.Object({
  router: Type.Object({
    name: Type.Optional(Name), description: Type.Optional(Description), admin_state_up: Type.Optional(Type.Boolean()),
    project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId), external_gateway_info: Type.Optional(GatewayBody),
    availability_zone_hints: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 16 })),
    distributed: Type.Optional(Type.Literal(false)), ha: Type.Optional(Type.Literal(false)), tags: Type.Optional(Tags),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;

const UpdateBody = Type.Object({
  router: Type.Object({
    name: Type.Optional(Name), description: Type.Optional(Description), admin_state_up: Type.Optional(Type.Boolean()),
    external_gateway_info: Type.Optional(GatewayBody), routes: Type.Optional(Type.Union([Routes, Type.Null()])),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

const RoutesBody = Type.Object({ router: Type.Object({ routes: Routes }, { additionalProperties: false }) }, { additionalProperties: false });
type RoutesBody = Static<typeof RoutesBody>;

type RouteEntry = Static<typeof Route>;

const invalidRoutes = (routes: unknown, why: string) => badRequest('InvalidRoutes', `Invalid format for routes: ${JSON.stringify(routes)}, ${why}.`);

/**
 * extraroute's checks: destinations are CIDRs (canonical), next hops addresses inside a subnet
 * the router has an interface on, no duplicates, at most MAX_ROUTES.
 */
async function checkRoutes(db: Db, routerId: string, routes: RouteEntry[]): Promise<RouteEntry[]> {
  const out: RouteEntry[] = [];
  const seen = new Set<string>();
  const ifaces = await interfacesOf(db, routerId);
  const subnets = await getSubnetsByIds(db, [...new Set(ifaces.flatMap((i) => i.ips.map((a) => a.subnet_id)))]);
  const cidrs = subnets.map((s) => parseCidr(s.cidr)).filter((c) => c !== null);
  for (const r of routes) {
    const dest = parseCidr(r.destination);
    const hop = parseIp(r.nexthop);
    if (!dest || dest.host) throw invalidRoutes(r, `the destination ${r.destination} is not a valid CIDR`);
    if (!hop || hop.version !== dest.version) throw invalidRoutes(r, `the nexthop ${r.nexthop} is not a valid IP address`);
    if (!cidrs.some((c) => cidrContains(c, hop))) throw invalidRoutes(r, 'the nexthop is not connected with router');
    const canon = { destination: formatCidr(dest), nexthop: r.nexthop };
    const key = `${canon.destination} ${canon.nexthop}`;
    if (seen.has(key)) continue;
    seen.add(key);
    out.push(canon);
  }
  if (out.length > MAX_ROUTES) {
    throw badRequest('RoutesExhausted', `Unable to complete operation for ${routerId}. The number of routes exceeds the maximum ${MAX_ROUTES}.`);
  }
  return out;
}

export function registerRouterRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;
  const downTime = Number(networkOpt(config, 'agent_down_time'));

  const found = async (req: FastifyRequest, id: string, rule: string): Promise<RouterRow> => {
    const row = await visibleRouter(db, req, id);
    if (!row) throw routerNotFound(id);
    authorize(req, rule, { project_id: row.project_id });
    return row;
  };
  const fresh = async (id: string): Promise<RouterRow> => {
    const r = await getRouterRow(db, id);
    if (!r) throw routerNotFound(id);
    return r;
  };

  app.get('/v2.0/routers', { config: { policy: 'get_router' } }, async (req) => {
    const v = viewerOf(req);
    const rows = await listRouterRows(db, v.isAdmin ? null : v.projectId ?? '');
    const gw = await gatewayIps(db, rows);
    return listAnswer(req, { collection: 'routers', attributes: ROUTER_ATTRIBUTES }, rows.map((r) => routerView(r, gw.get(r.id) ?? [])));
  });

  app.get<{ Params: { id: string } }>('/v2.0/routers/:id', { config: { policy: 'get_router' }, schema: { params: IdParams } }, async (req) => {
    const row = await found(req, req.params.id, 'get_router');
    return { router: pickFields(await routerViewOf(db, row), fieldsOf(req)) };
  });

  app.post<{ Body: CreateBody }>('/v2.0/routers', { config: { policy: 'create_router' }, schema: { body: CreateBody } }, async (req, reply) => {
    const b = req.body.router;
    const projectId = requestedProject(req, b);
    authorize(req, 'create_router', { project_id: projectId });
    const gwInfo = (b.external_gateway_info ?? null) as GatewayInfo | null;
    if (b.external_gateway_info !== undefined) authorizeGateway(req, 'create', gwInfo, projectId);
    const at = nowIso();
    const id = newUuid();
    await atomically(db, async (tx) => {
      await checkQuota(tx, config, projectId, 'router');
      await insertRouter(tx, {
        id, project_id: projectId, name: b.name ?? '', description: b.description ?? '', admin_state_up: bit(b.admin_state_up ?? true),
        status: 'ACTIVE', gw_network_id: null, gw_port_id: null, enable_snat: 1, routes: '[]', agent_host: null,
        tags: JSON.stringify([...new Set(b.tags ?? [])]), revision_number: 1, created_at: at, updated_at: at,
      });
    });
    try {
      await scheduleRouters(db, Date.now(), downTime, [id]);
      if (!clearsGateway(gwInfo)) await applyGateway(req, opts, await fresh(id), gwInfo);
    } catch (err) {
      // Nothing half-made: a router whose gateway could not be set is not left behind.
      await deleteRouterRow(db, id);
      throw err;
    }
    reply.code(201);
    return { router: await routerViewOf(db, await fresh(id)) };
  });

  app.put<{ Params: { id: string }; Body: UpdateBody }>('/v2.0/routers/:id', {
    config: { policy: 'update_router' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const b = req.body.router;
    const row = await found(req, req.params.id, 'update_router');
    if (b.external_gateway_info !== undefined) authorizeGateway(req, 'update', (b.external_gateway_info ?? null) as GatewayInfo | null, row.project_id);
    const routes = b.routes === undefined ? undefined : await checkRoutes(db, row.id, b.routes ?? []);
    if (b.external_gateway_info !== undefined) await applyGateway(req, opts, row, (b.external_gateway_info ?? null) as GatewayInfo | null);
    const changes = {
      ...(b.name !== undefined ? { name: b.name } : {}), ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.admin_state_up !== undefined ? { admin_state_up: bit(b.admin_state_up) } : {}),
      ...(routes !== undefined ? { routes: JSON.stringify(routes) } : {}),
    };
    if (Object.keys(changes).length > 0 && !(await updateRouterRow(db, row.id, { ...changes, updated_at: nowIso() }))) throw routerNotFound(row.id);
    return { router: await routerViewOf(db, await fresh(row.id)) };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/routers/:id', {
    config: { policy: 'delete_router' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const row = await found(req, req.params.id, 'delete_router');
    const ports = await routerPorts(db, [row.id]);
    if (ports.some((p) => p.device_owner !== ROUTER_GATEWAY_OWNER)) {
      throw routerInUse(row.id, `still has ports`);
    }
    if (!(await deleteRouterRow(db, row.id))) throw routerNotFound(row.id);
    for (const p of ports) await deleteServicePort(opts, p.id);
    reply.code(204);
  });

  // extraroute-atomic: add or remove some routes without replacing the others.
  for (const action of ['add', 'remove'] as const) {
    app.put<{ Params: { id: string }; Body: RoutesBody }>(`/v2.0/routers/:id/${action}_extraroutes`, {
      config: { policy: `${action}_extraroutes` }, schema: { params: IdParams, body: RoutesBody },
    }, async (req) => {
      const row = await found(req, req.params.id, `${action}_extraroutes`);
      const given = await checkRoutes(db, row.id, req.body.router.routes);
      await atomically(db, async (tx) => {
        const cur = await getRouterRow(tx, row.id);
        if (!cur) throw routerNotFound(row.id);
        const have = JSON.parse(cur.routes) as RouteEntry[];
        const key = (r: RouteEntry): string => `${r.destination} ${r.nexthop}`;
        const drop = new Set(given.map(key));
        const next = action === 'add'
          ? [...have, ...given.filter((g) => !have.some((h) => key(h) === key(g)))]
          : have.filter((h) => !drop.has(key(h)));
        if (next.length > MAX_ROUTES) {
          throw badRequest('RoutesExhausted', `Unable to complete operation for ${row.id}. The number of routes exceeds the maximum ${MAX_ROUTES}.`);
        }
        await updateRouterRow(tx, row.id, { routes: JSON.stringify(next), updated_at: nowIso() });
      });
      return { router: await routerViewOf(db, await fresh(row.id)) };
    });
  }
}
