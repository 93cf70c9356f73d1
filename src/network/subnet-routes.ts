import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import { visibleNetwork } from '../db/network-networks.js';
import {
  deleteSubnetCascade, insertSubnet, listVisibleSubnets, subnetsOfNetwork, updateSubnetRow, visibleSubnet, type SubnetRow,
} from '../db/network-subnets.js';
import { lockKey } from '../db/locks.js';
import { addressHolder } from '../db/network-ports.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import {
  bit, bool, conflict, Description, IdParams, invalidInput, json, Name, networkNotFound, nowIso, ProjectId, requestedProject, standardAttrs,
  subnetNotFound, Tags, viewerOf, checkIfMatch,
} from './common.js';
import { formatIp, parseCidr } from './ip.js';
import { fieldsOf, listAnswer, pickFields, type View } from './list-kit.js';
import type { NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';
import {
  checkCidr, checkDns, checkGateway, checkNoOverlap, checkPools, checkRoutes, MAX_DNS_NAMESERVERS, MAX_HOST_ROUTES, MAX_POOLS,
  poolsJson, type HostRoute, type Pool,
} from './subnet-validation.js';

/** /v2.0/subnets: IPv4 and IPv6 subnets of a network, their pools, gateway, DNS servers and host routes. */

const Address = Type.String({ minLength: 1, maxLength: 64 });
const PoolT = Type.Object({ start: Address, end: Address }, { additionalProperties: false });
const RouteT = Type.Object({ destination: Address, nexthop: Address }, { additionalProperties: false });
const V6Mode = Type.Union([Type.Literal('slaac'), Type.Literal('dhcpv6-stateful'), Type.Literal('dhcpv6-stateless'), Type.Null()]);

const mutable = {
  name: Type.Optional(Name), description: Type.Optional(Description),
  gateway_ip: Type.Optional(Type.Union([Address, Type.Null()])),
  allocation_pools: Type.Optional(Type.Array(PoolT, { maxItems: MAX_POOLS })),
  dns_nameservers: Type.Optional(Type.Array(Address, { maxItems: MAX_DNS_NAMESERVERS + 1 })),
  host_routes: Type.Optional(Type.Array(RouteT, { maxItems: MAX_HOST_ROUTES + 1 })),
  enable_dhcp: Type.Optional(Type.Boolean()),
};
const CreateBody = Type.Object({
  subnet: Type.Object({
    ...mutable,
    network_id: Type.String({ minLength: 1, maxLength: 255 }),
    cidr: Type.String({ minLength: 1, maxLength: 64 }),
    ip_version: Type.Union([Type.Literal(4), Type.Literal(6)]),
    ipv6_ra_mode: Type.Optional(V6Mode), ipv6_address_mode: Type.Optional(V6Mode),
    project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId),
    subnetpool_id: Type.Optional(Type.Null()),
    tags: Type.Optional(Tags),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;
const UpdateBody = Type.Object({ subnet: Type.Object(mutable, { additionalProperties: false }) }, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

export const SUBNET_ATTRIBUTES = [
  'id', 'name', 'tenant_id', 'project_id', 'network_id', 'ip_version', 'subnetpool_id', 'enable_dhcp', 'ipv6_ra_mode', 'ipv6_address_mode',
  'gateway_ip', 'cidr', 'allocation_pools', 'host_routes', 'dns_nameservers', 'service_types', 'description', 'tags', 'created_at',
  'updated_at', 'revision_number',
] as const;

export function subnetView(row: SubnetRow): View {
  return {
    id: row.id, name: row.name, tenant_id: row.project_id, project_id: row.project_id, network_id: row.network_id, ip_version: row.ip_version,
    subnetpool_id: row.subnetpool_id, enable_dhcp: bool(row.enable_dhcp), ipv6_ra_mode: row.ipv6_ra_mode, ipv6_address_mode: row.ipv6_address_mode,
    gateway_ip: row.gateway_ip, cidr: row.cidr, allocation_pools: json<Pool[]>(row.allocation_pools), host_routes: json<HostRoute[]>(row.host_routes),
    dns_nameservers: json<string[]>(row.dns_nameservers), service_types: [], ...standardAttrs(row),
  };
}

/** A write on a subnet is its network owner's (Neutron's network_owner rule), or admin's. */
function authorizeOnNetwork(req: FastifyRequest, rule: string, networkProject: string, subnetProject: string): void {
  authorize(req, rule, { project_id: subnetProject });
  authorize(req, rule, { project_id: networkProject });
}

export function registerSubnetRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;

  app.get('/v2.0/subnets', { config: { policy: 'get_subnet' } }, async (req) =>
    listAnswer(req, { collection: 'subnets', attributes: SUBNET_ATTRIBUTES }, (await listVisibleSubnets(db, viewerOf(req))).map(subnetView)));

  app.get<{ Params: { id: string } }>('/v2.0/subnets/:id', { config: { policy: 'get_subnet' }, schema: { params: IdParams } }, async (req) => {
    const row = await visibleSubnet(db, viewerOf(req), req.params.id);
    if (!row) throw subnetNotFound(req.params.id);
    return { subnet: pickFields(subnetView(row), fieldsOf(req)) };
  });

  app.post<{ Body: CreateBody }>('/v2.0/subnets', { config: { policy: 'create_subnet' }, schema: { body: CreateBody } }, async (req, reply) => {
    const b = req.body.subnet;
    const projectId = requestedProject(req, b);
    const network = await visibleNetwork(db, viewerOf(req), b.network_id);
    if (!network) throw networkNotFound(b.network_id);
    authorizeOnNetwork(req, 'create_subnet', network.project_id, projectId);
    const cidr = checkCidr(b.cidr, b.ip_version);
    if (b.ip_version === 4 && (b.ipv6_ra_mode || b.ipv6_address_mode)) throw invalidInput('ipv6_ra_mode or ipv6_address_mode cannot be set when ip_version is 4');
    if (b.ipv6_ra_mode && b.ipv6_address_mode && b.ipv6_ra_mode !== b.ipv6_address_mode) {
      throw invalidInput(`ipv6_ra_mode set to '${b.ipv6_ra_mode}' with ipv6_address_mode set to '${b.ipv6_address_mode}' is not valid`);
    }
    const gateway = checkGateway(cidr, b.gateway_ip);
    const pools = checkPools(cidr, gateway, b.allocation_pools);
    const dns = checkDns(b.ip_version, b.dns_nameservers ?? []);
    const routes = checkRoutes(b.ip_version, b.host_routes ?? []);
    const at = nowIso();
    const id = newUuid();
    await atomically(db, async (tx) => {
      // One subnet create per network at a time: the overlap check and the insert are one step.
      await lockKey(tx, `subnets:${network.id}`);
      checkNoOverlap(cidr, network.id, await subnetsOfNetwork(tx, network.id));
      await checkQuota(tx, config, projectId, 'subnet');
      await insertSubnet(tx, {
        id, network_id: network.id, project_id: projectId, name: b.name ?? '', description: b.description ?? '', ip_version: b.ip_version,
        cidr: `${formatIp({ version: cidr.version, value: cidr.network })}/${cidr.prefix}`,
        gateway_ip: gateway === null ? null : formatIp({ version: cidr.version, value: gateway }),
        enable_dhcp: bit(b.enable_dhcp ?? true), allocation_pools: JSON.stringify(poolsJson(pools)), dns_nameservers: JSON.stringify(dns),
        host_routes: JSON.stringify(routes), ipv6_ra_mode: b.ipv6_ra_mode ?? null, ipv6_address_mode: b.ipv6_address_mode ?? null,
        subnetpool_id: null, tags: JSON.stringify([...new Set(b.tags ?? [])]), revision_number: 1, created_at: at, updated_at: at,
      });
    });
    reply.code(201);
    return { subnet: subnetView((await visibleSubnet(db, { projectId, isAdmin: true }, id))!) };
  });

  app.put<{ Params: { id: string }; Body: UpdateBody }>('/v2.0/subnets/:id', {
    config: { policy: 'update_subnet' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const b = req.body.subnet;
    const row = await visibleSubnet(db, viewerOf(req), req.params.id);
    if (!row) throw subnetNotFound(req.params.id);
    const network = await visibleNetwork(db, { projectId: null, isAdmin: true }, row.network_id);
    authorizeOnNetwork(req, 'update_subnet', network?.project_id ?? row.project_id, row.project_id);
    checkIfMatch(req, row.revision_number);
    const cidr = parseCidr(row.cidr)!;
    const version = cidr.version;
    const changes: Record<string, unknown> = {};
    if (b.name !== undefined) changes.name = b.name;
    if (b.description !== undefined) changes.description = b.description;
    if (b.enable_dhcp !== undefined) changes.enable_dhcp = bit(b.enable_dhcp);
    if (b.dns_nameservers !== undefined) changes.dns_nameservers = JSON.stringify(checkDns(version, b.dns_nameservers));
    if (b.host_routes !== undefined) changes.host_routes = JSON.stringify(checkRoutes(version, b.host_routes));
    if (b.gateway_ip !== undefined || b.allocation_pools !== undefined) {
      const gateway = b.gateway_ip !== undefined ? checkGateway(cidr, b.gateway_ip)
        : row.gateway_ip === null ? null : checkGateway(cidr, row.gateway_ip);
      const pools = b.allocation_pools !== undefined ? checkPools(cidr, gateway, b.allocation_pools)
        : checkPools(cidr, gateway, json<Pool[]>(row.allocation_pools));
      changes.gateway_ip = gateway === null ? null : formatIp({ version, value: gateway });
      changes.allocation_pools = JSON.stringify(poolsJson(pools));
      if (b.gateway_ip !== undefined && gateway !== null) {
        const taken = await addressHolder(db, row.id, changes.gateway_ip as string);
        if (taken && taken.device_owner !== 'network:router_interface') {
          throw conflict('GatewayIpInUse', `Current gateway ip ${changes.gateway_ip as string} already in use by port ${taken.port_id}. Unable to update.`);
        }
      }
    }
    if (!(await updateSubnetRow(db, row.id, { ...changes, updated_at: nowIso() }))) throw subnetNotFound(row.id);
    return { subnet: subnetView((await visibleSubnet(db, { projectId: null, isAdmin: true }, row.id))!) };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/subnets/:id', {
    config: { policy: 'delete_subnet' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const row = await visibleSubnet(db, viewerOf(req), req.params.id);
    if (!row) throw subnetNotFound(req.params.id);
    const network = await visibleNetwork(db, { projectId: null, isAdmin: true }, row.network_id);
    authorizeOnNetwork(req, 'delete_subnet', network?.project_id ?? row.project_id, row.project_id);
    checkIfMatch(req, row.revision_number);
    const r = await deleteSubnetCascade(db, row.id);
    if (r === 'gone') throw subnetNotFound(row.id);
    if (r === 'in-use') {
      throw conflict('SubnetInUse', `Unable to complete operation on subnet ${row.id}: One or more ports have an IP allocation from this subnet.`);
    }
    reply.code(204);
  });
}
