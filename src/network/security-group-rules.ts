import type { SecurityGroupRuleRow } from '../db/network-security-groups.js';
import { badRequest, invalidInput, stamp } from './common.js';
import { formatCidr, parseCidr } from './ip.js';
import type { View } from './list-kit.js';

/** Neutron's validation of a security group rule and its view. */

/** IANA protocol names Neutron accepts (neutron-lib constants.IP_PROTOCOL_MAP), with their numbers. */
export const PROTOCOLS: ReadonlyMap<string, number> = new Map([
  ['ah', 51], ['dccp', 33], ['egp', 8], ['esp', 50], ['gre', 47], ['hopopt', 0], ['icmp', 1], ['igmp', 2], ['ip', 0], ['ipip', 4],
  ['ipv6-encap', 41], ['ipv6-frag', 44], ['ipv6-icmp', 58], ['icmpv6', 58], ['ipv6-nonxt', 59], ['ipv6-opts', 60], ['ipv6-route', 43],
  ['ospf', 89], ['pgm', 113], ['rsvp', 46], ['sctp', 132], ['tcp', 6], ['udp', 17], ['udplite', 136], ['vrrp', 112],
]);
const PORT_PROTOCOLS = new Set([6, 17, 132, 33, 136]);
const ICMP_PROTOCOLS = new Set([1, 58]);

export interface RuleInput {
  direction: 'ingress' | 'egress';
  ethertype?: 'IPv4' | 'IPv6';
  protocol?: string | number | null;
  port_range_min?: number | null;
  port_range_max?: number | null;
  remote_ip_prefix?: string | null;
  remote_group_id?: string | null;
}

export interface CheckedRule {
  direction: string;
  ethertype: 'IPv4' | 'IPv6';
  protocol: string | null;
  port_range_min: number | null;
  port_range_max: number | null;
  remote_ip_prefix: string | null;
  remote_group_id: string | null;
}

/** The protocol's number, or null for "any"; refuses an unknown name or a number out of 0–255. */
function protocolNumber(p: string | null): number | null {
  if (p === null) return null;
  if (/^\d{1,3}$/.test(p)) {
    const n = Number(p);
    if (n > 255) throw badRequest('SecurityGroupRuleInvalidProtocol', `Security group rule protocol ${p} not supported. Only protocol values [${[...PROTOCOLS.keys()].join(', ')}] and integer representations [0 to 255] are supported.`);
    return n;
  }
  const n = PROTOCOLS.get(p);
  if (n === undefined) {
    throw badRequest('SecurityGroupRuleInvalidProtocol', `Security group rule protocol ${p} not supported. Only protocol values [${[...PROTOCOLS.keys()].join(', ')}] and integer representations [0 to 255] are supported.`);
  }
  return n;
}

export function checkRule(r: RuleInput): CheckedRule {
  const ethertype = r.ethertype ?? 'IPv4';
  const raw = r.protocol === undefined || r.protocol === null ? null : String(r.protocol).toLowerCase();
  const protocol = raw === null || raw === 'any' ? null : raw;
  const num = protocolNumber(protocol);
  let min = r.port_range_min ?? null;
  let max = r.port_range_max ?? null;
  if (num === null && (min !== null || max !== null)) throw invalidInput('Must also specify protocol if port range is given');
  if (num !== null && PORT_PROTOCOLS.has(num)) {
    if (min === null && max !== null) throw badRequest('SecurityGroupInvalidPortRange', 'For TCP/UDP protocols, port_range_min must be <= port_range_max');
    if (min !== null && max === null) max = min;
    for (const p of [min, max]) {
      if (p !== null && (p < 1 || p > 65535)) throw badRequest('SecurityGroupInvalidPortValue', `Invalid value for port ${p}`);
    }
    if (min !== null && max !== null && min > max) throw badRequest('SecurityGroupInvalidPortRange', 'For TCP/UDP protocols, port_range_min must be <= port_range_max');
  } else if (num !== null && ICMP_PROTOCOLS.has(num)) {
    if (min === null && max !== null) {
      throw badRequest('SecurityGroupMissingIcmpType', `ICMP code (port-range-max) ${max} is provided but ICMP type (port-range-min) is missing.`);
    }
    for (const [name, v] of [['type', min], ['code', max]] as const) {
      if (v !== null && (v < 0 || v > 255)) throw badRequest('SecurityGroupInvalidIcmpValue', `Invalid value for ICMP ${name} (port-range-${name === 'type' ? 'min' : 'max'}) ${v}. It must be 0 to 255.`);
    }
    if (num === 1 && ethertype === 'IPv6') throw badRequest('SecurityGroupEthertypeConflictWithProtocol', `Invalid ethertype ${ethertype} for protocol ${protocol}.`);
    if (num === 58 && ethertype === 'IPv4') throw badRequest('SecurityGroupEthertypeConflictWithProtocol', `Invalid ethertype ${ethertype} for protocol ${protocol}.`);
  } else if (min !== null || max !== null) {
    throw badRequest('SecurityGroupInvalidProtocolForPortRange',
      `Invalid protocol ${protocol} for port range, only supported for TCP, UDP, UDPLITE, SCTP, DCCP and ICMP protocols.`);
  }
  const remoteIp = r.remote_ip_prefix ?? null;
  const remoteGroup = r.remote_group_id ?? null;
  if (remoteIp !== null && remoteGroup !== null) {
    throw badRequest('SecurityGroupRemoteGroupAndRemoteIpPrefix', 'Only remote_ip_prefix or remote_group_id may be provided.');
  }
  let prefix: string | null = null;
  if (remoteIp !== null) {
    const c = parseCidr(remoteIp.includes('/') ? remoteIp : `${remoteIp}/${remoteIp.includes(':') ? 128 : 32}`);
    if (!c) throw invalidInput(`'${remoteIp}' is not a valid IP subnet`);
    if ((c.version === 4) !== (ethertype === 'IPv4')) {
      throw badRequest('SecurityGroupRuleParameterConflict', `Conflicting value ethertype ${ethertype} for CIDR ${remoteIp}`);
    }
    prefix = formatCidr(c);
  }
  if (min !== null && max === null && num !== null && !ICMP_PROTOCOLS.has(num)) max = min;
  return { direction: r.direction, ethertype, protocol, port_range_min: min, port_range_max: max, remote_ip_prefix: prefix, remote_group_id: remoteGroup };
}

/** Whether two rules are the same rule (SecurityGroupRuleExists): every matching field equal. */
export function sameRule(a: CheckedRule, b: SecurityGroupRuleRow): boolean {
  return a.direction === b.direction && a.ethertype === b.ethertype && (a.protocol ?? null) === (b.protocol ?? null)
    && a.port_range_min === b.port_range_min && a.port_range_max === b.port_range_max
    && (a.remote_ip_prefix ?? null) === (b.remote_ip_prefix ?? null) && (a.remote_group_id ?? null) === (b.remote_group_id ?? null);
}

export const RULE_ATTRIBUTES = [
  'id', 'security_group_id', 'direction', 'ethertype', 'protocol', 'port_range_min', 'port_range_max', 'remote_ip_prefix', 'remote_group_id',
  'remote_address_group_id', 'normalized_cidr', 'belongs_to_default_sg', 'description', 'tenant_id', 'project_id', 'created_at', 'updated_at',
  'revision_number',
] as const;

export function ruleView(r: SecurityGroupRuleRow, defaults: ReadonlySet<string>): View {
  return {
    id: r.id, security_group_id: r.security_group_id, direction: r.direction, ethertype: r.ethertype, protocol: r.protocol,
    port_range_min: r.port_range_min, port_range_max: r.port_range_max, remote_ip_prefix: r.remote_ip_prefix, remote_group_id: r.remote_group_id,
    remote_address_group_id: null, normalized_cidr: r.remote_ip_prefix, belongs_to_default_sg: defaults.has(r.security_group_id),
    description: r.description, tenant_id: r.project_id, project_id: r.project_id, created_at: stamp(r.created_at),
    updated_at: stamp(r.updated_at), revision_number: r.revision_number,
  };
}
