import type { FastifyInstance, FastifyRequest } from 'fastify';
import { isIP } from 'node:net';
import { Type, type Static } from '@sinclair/typebox';
import type { NetworkClient } from '../clients/network-client.js';
import { BadRequest, NotFound, statusOf } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import type { ComputeApiDeps } from './deps.js';
import { routeBoth } from './resource-kit.js';
import { networkOf, orMissing, proxyGone } from './network-proxies.js';

/**
 * os-security-groups and os-security-group-rules (Nova's security_groups.py over Neutron,
 * nova/network/security_group_api.py): groups with their ingress rules in nova-network's
 * shape, called with the user's own token; 404 from 2.36.
 */

interface NeutronRule {
  id: string; security_group_id: string; direction: string; ethertype: string; protocol: string | null;
  port_range_min: number | null; port_range_max: number | null; remote_ip_prefix: string | null; remote_group_id: string | null;
}
export interface NeutronGroup { id: string; name: string; description: string; project_id: string; security_group_rules: NeutronRule[] }

/** Nova's conversion of a Neutron rule: a protocol without ports means all of them (1-65535, or -1 for icmp). */
function ruleView(r: NeutronRule, groups: NeutronGroup[]): Record<string, unknown> {
  let from = r.port_range_min;
  let to = r.port_range_max;
  if (r.protocol && from === null && to === null) {
    [from, to] = ['tcp', 'udp'].includes(r.protocol.toLowerCase()) ? [1, 65535] : [-1, -1];
  }
  const out: Record<string, unknown> = {
    id: r.id, parent_group_id: r.security_group_id, ip_protocol: r.protocol, from_port: from, to_port: to, group: {}, ip_range: {},
  };
  if (r.remote_group_id) {
    const g = groups.find((x) => x.id === r.remote_group_id);
    out.group = { name: g?.name ?? null, tenant_id: g?.project_id ?? null };
  } else {
    out.ip_range = { cidr: r.remote_ip_prefix ?? (r.ethertype === 'IPv6' ? '::/0' : '0.0.0.0/0') };
  }
  return out;
}

export function groupView(g: NeutronGroup, groups: NeutronGroup[]): Record<string, unknown> {
  return {
    id: g.id, name: g.name, description: g.description, tenant_id: g.project_id,
    rules: g.security_group_rules.filter((r) => r.direction === 'ingress').map((r) => ruleView(r, groups)),
  };
}

export async function securityGroupsByIds(client: NetworkClient, token: string, ids: string[]): Promise<NeutronGroup[]> {
  const q = new URLSearchParams();
  for (const id of ids) q.append('id', id);
  return (await client.call<{ security_groups: NeutronGroup[] }>('GET', `/v2.0/security-groups?${q}`, undefined, token)).security_groups;
}

const GroupBody = Type.Object({
  security_group: Type.Object({
    name: Type.String({ minLength: 1, maxLength: 255 }), description: Type.String({ maxLength: 255 }),
  }),
}, { additionalProperties: false });
type GroupBody = Static<typeof GroupBody>;

const Port = Type.Union([Type.Integer({ minimum: -1, maximum: 65535 }), Type.String({ pattern: '^-?[0-9]{1,5}$' }), Type.Null()]);
const RuleBody = Type.Object({
  security_group_rule: Type.Object({
    parent_group_id: Type.String({ maxLength: 64 }),
    ip_protocol: Type.Optional(Type.Union([Type.String({ maxLength: 16 }), Type.Null()])),
    from_port: Type.Optional(Port),
    to_port: Type.Optional(Port),
    cidr: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    group_id: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
  }),
}, { additionalProperties: false });
type RuleBody = Static<typeof RuleBody>;

const noGroup = (id: string) => () => new NotFound(`Security group ${id} not found.`);

/** Nova's rule translation (security_group_api.new_group_ingress_rule), checked as Nova checks it. */
function neutronRule(r: RuleBody['security_group_rule']): Record<string, unknown> {
  const protocol = r.ip_protocol ? r.ip_protocol.toLowerCase() : null;
  if (protocol !== null && !['tcp', 'udp', 'icmp'].includes(protocol) && !/^\d{1,3}$/.test(protocol)) {
    throw new BadRequest(`Invalid IP protocol ${r.ip_protocol}.`);
  }
  const num = (v: number | string | null | undefined): number | null => (v === undefined || v === null ? null : Number(v));
  let from = num(r.from_port);
  let to = num(r.to_port);
  if (protocol === 'tcp' || protocol === 'udp') {
    if (from === null || to === null || from < 1 || to > 65535 || from > to) {
      throw new BadRequest('Invalid port range 1:65535. Valid TCP ports should be between 1-65535');
    }
  } else if (protocol === 'icmp') {
    // icmp: from = type, to = code; -1 = any.
    if (from === -1) from = null;
    if (to === -1) to = null;
    if ((from !== null && from > 255) || (to !== null && to > 255)) throw new BadRequest('Type and Code must be integers for ICMP protocol type');
  }
  if (r.cidr && r.group_id) throw new BadRequest('Either cidr or group_id may be given, not both.');
  let ethertype = 'IPv4';
  if (r.cidr) {
    const [addr, len] = r.cidr.split('/') as [string, string | undefined];
    const v = isIP(addr);
    if (v === 0 || (len !== undefined && !/^\d{1,3}$/.test(len))) throw new BadRequest(`Invalid cidr ${r.cidr}.`);
    if (v === 6) ethertype = 'IPv6';
  }
  return {
    security_group_id: r.parent_group_id, direction: 'ingress', ethertype, protocol,
    port_range_min: from, port_range_max: to,
    ...(r.cidr ? { remote_ip_prefix: r.cidr } : {}), ...(r.group_id ? { remote_group_id: r.group_id } : {}),
  };
}

export function registerSecurityGroupProxies(app: FastifyInstance, deps: ComputeApiDeps): void {
  type Id = { Params: { id: string } };
  const tok = (req: FastifyRequest) => req.auth.tokenId;
  const getGroup = async (req: FastifyRequest, id: string): Promise<{ client: NetworkClient; group: NeutronGroup }> => {
    const missing = noGroup(id);
    if (!isUuidLike(id)) throw missing();
    const client = networkOf(deps, missing);
    const r = await orMissing(client.call<{ security_group: NeutronGroup }>('GET', `/v2.0/security-groups/${encodeURIComponent(id)}`, undefined, tok(req)), missing);
    return { client, group: r.security_group };
  };
  const render = async (client: NetworkClient, req: FastifyRequest, g: NeutronGroup) => {
    const remote = [...new Set(g.security_group_rules.map((r) => r.remote_group_id).filter((x): x is string => !!x))];
    const others = remote.length > 0 ? await securityGroupsByIds(client, tok(req), remote) : [];
    return groupView(g, [g, ...others]);
  };

  routeBoth(app, 'GET', '/os-security-groups', { policy: 'os_compute_api:os-security-groups:get' }, async (req) => {
    proxyGone(req);
    if (!deps.network) return { security_groups: [] };
    const q = req.auth.projectId ? `?project_id=${encodeURIComponent(req.auth.projectId)}` : '';
    const groups = (await deps.network.call<{ security_groups: NeutronGroup[] }>('GET', `/v2.0/security-groups${q}`, undefined, tok(req))).security_groups;
    return { security_groups: groups.map((g) => groupView(g, groups)) };
  });
  routeBoth<Id>(app, 'GET', '/os-security-groups/:id', { policy: 'os_compute_api:os-security-groups:show' }, async (req) => {
    proxyGone(req);
    const { client, group } = await getGroup(req, req.params.id);
    return { security_group: await render(client, req, group) };
  });
  routeBoth<{ Body: GroupBody }>(app, 'POST', '/os-security-groups', { policy: 'os_compute_api:os-security-groups:create', schema: { body: GroupBody } }, async (req) => {
    proxyGone(req);
    const client = networkOf(deps, () => new BadRequest('No network service to create security groups in.'));
    const { name, description } = req.body.security_group;
    const r = await client.call<{ security_group: NeutronGroup }>('POST', '/v2.0/security-groups', { security_group: { name, description } }, tok(req));
    return { security_group: await render(client, req, r.security_group) };
  });
  routeBoth<Id & { Body: GroupBody }>(app, 'PUT', '/os-security-groups/:id', { policy: 'os_compute_api:os-security-groups:update', schema: { body: GroupBody } }, async (req) => {
    proxyGone(req);
    const { client, group } = await getGroup(req, req.params.id);
    const { name, description } = req.body.security_group;
    const r = await client.call<{ security_group: NeutronGroup }>('PUT', `/v2.0/security-groups/${group.id}`, { security_group: { name, description } }, tok(req))
      .catch((err: unknown) => Promise.reject(statusOf(err) === 409 || statusOf(err) === 400 ? new BadRequest((err as Error).message) : err));
    return { security_group: await render(client, req, r.security_group) };
  });
  routeBoth<Id>(app, 'DELETE', '/os-security-groups/:id', { policy: 'os_compute_api:os-security-groups:delete', status: 202 }, async (req) => {
    proxyGone(req);
    const { client, group } = await getGroup(req, req.params.id);
    await client.call('DELETE', `/v2.0/security-groups/${group.id}`, undefined, tok(req))
      .catch((err: unknown) => Promise.reject(statusOf(err) === 409 ? new BadRequest((err as Error).message) : err));
    return undefined;
  });

  routeBoth<{ Body: RuleBody }>(app, 'POST', '/os-security-group-rules', {
    policy: 'os_compute_api:os-security-groups:rule:create', schema: { body: RuleBody },
  }, async (req) => {
    proxyGone(req);
    const r = req.body.security_group_rule;
    const { client, group } = await getGroup(req, r.parent_group_id);
    if (r.group_id) await getGroup(req, r.group_id);
    let made: { security_group_rule: NeutronRule };
    try {
      made = await client.call('POST', '/v2.0/security-group-rules', { security_group_rule: neutronRule(r) }, tok(req));
    } catch (err) {
      if (statusOf(err) === 409) throw new BadRequest(`This rule already exists in group ${group.id}`);
      if (statusOf(err) === 400) throw new BadRequest((err as Error).message);
      throw err;
    }
    return { security_group_rule: ruleView(made.security_group_rule, [group]) };
  });
  routeBoth<Id>(app, 'DELETE', '/os-security-group-rules/:id', { policy: 'os_compute_api:os-security-groups:rule:delete', status: 202 }, async (req) => {
    proxyGone(req);
    const missing = () => new NotFound(`Rule (${req.params.id}) not found.`);
    if (!isUuidLike(req.params.id)) throw missing();
    const client = networkOf(deps, missing);
    await orMissing(client.call('DELETE', `/v2.0/security-group-rules/${encodeURIComponent(req.params.id)}`, undefined, tok(req)), missing);
    return undefined;
  });
}
