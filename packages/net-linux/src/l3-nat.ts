import type { L3Router } from './l3-types.js';

/** The nftables table (family ip) that holds one router's NAT inside its namespace. */
export const NAT_TABLE = 'orrery-l3';

const IPV4 = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/;
const IFNAME = /^[A-Za-z0-9_.-]{1,15}$/;

function v4(addr: string): string {
  const m = IPV4.exec(addr);
  if (!m || m.slice(1).some((o) => Number(o) > 255)) throw new Error(`not an IPv4 address: ${JSON.stringify(addr)}`);
  return addr;
}

function v4cidr(cidr: string): string {
  const [a, len, ...rest] = cidr.split('/');
  if (rest.length > 0 || len === undefined || !/^\d{1,2}$/.test(len) || Number(len) > 32) throw new Error(`not an IPv4 CIDR: ${JSON.stringify(cidr)}`);
  return `${v4(a!)}/${len}`;
}

function ifname(n: string): string {
  if (!IFNAME.test(n)) throw new Error(`not an interface name: ${JSON.stringify(n)}`);
  return n;
}

/**
 * The router's NAT as one nft script that replaces the table atomically (declare, delete,
 * re-create in one transaction: a flow under way keeps its conntrack NAT binding). Neutron's
 * order: a floating IP's 1:1 SNAT before the router's SNAT, both only on traffic leaving by the
 * gateway device, so traffic between two internal subnets is routed untranslated. Every value is
 * checked to be an address or device name before it enters the script.
 */
export function natRuleset(r: L3Router): string {
  const lines = [`table ip ${NAT_TABLE} {}`, `delete table ip ${NAT_TABLE}`];
  const gw = r.gateway;
  if (!gw) return `${lines.join('\n')}\n`;
  const qg = ifname(gw.interface);
  const gwIp = gw.fixed_ips.map((f) => f.ip_address).find((a) => IPV4.test(a));
  const pre: string[] = [];
  const post: string[] = [];
  for (const f of r.floating_ips) {
    if (!IPV4.test(f.floating_ip_address) || !IPV4.test(f.fixed_ip_address)) continue;
    pre.push(`ip daddr ${v4(f.floating_ip_address)} dnat to ${v4(f.fixed_ip_address)}`);
    post.push(`oifname "${qg}" ip saddr ${v4(f.fixed_ip_address)} snat to ${v4(f.floating_ip_address)}`);
  }
  if (r.enable_snat && gwIp) {
    const cidrs = [...new Set(r.interfaces.flatMap((p) => p.fixed_ips.map((f) => f.cidr)).filter((c) => !c.includes(':')).map(v4cidr))];
    if (cidrs.length > 0) post.push(`oifname "${qg}" ip saddr { ${cidrs.join(', ')} } snat to ${v4(gwIp)}`);
  }
  lines.push(`table ip ${NAT_TABLE} {`,
    '  chain prerouting {', '    type nat hook prerouting priority dstnat; policy accept;', ...pre.map((l) => `    ${l}`), '  }',
    // Traffic the router itself sends to a floating address (e.g. a probe from the namespace).
    '  chain output {', '    type nat hook output priority -100; policy accept;', ...pre.map((l) => `    ${l}`), '  }',
    '  chain postrouting {', '    type nat hook postrouting priority srcnat; policy accept;', ...post.map((l) => `    ${l}`), '  }',
    '}');
  return `${lines.join('\n')}\n`;
}
