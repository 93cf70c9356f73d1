/**
 * ARP and MAC anti-spoofing of the filtered ports (iptables never sees ARP; Neutron uses
 * ebtables): an nftables `bridge` table — stateless, which the bridge family can do on this
 * kernel — dropping frames from a port's tap whose source MAC is not the port's (or an allowed
 * address pair's), and ARP whose sender address is not one of the port's IPv4 addresses. The
 * table is replaced in one nft transaction, so there is no moment without it. Its hook is
 * prerouting, before br_netfilter (priority 0): at the forward hook ARP handed to arptables by
 * br_netfilter skipped the chain (measured), and a spoofed frame never teaches the bridge its MAC.
 */
import { isIP } from 'node:net';
import type { HostPort } from './host-state.js';
import { parseCidr } from './host-state.js';
import { tapName } from './names.js';
import { filtered } from './secgroups.js';
import type { CommandRunner } from './runner.js';

export const ANTISPOOF_TABLE = 'orrery_antispoof';

/** The nft script (pure, tested). */
export function antispoofRules(ports: readonly HostPort[]): string {
  const lines = [`table bridge ${ANTISPOOF_TABLE}`, `delete table bridge ${ANTISPOOF_TABLE}`, `table bridge ${ANTISPOOF_TABLE} {`, '  chain prerouting {', '    type filter hook prerouting priority -200; policy accept;'];
  for (const p of ports.filter(filtered)) {
    const tap = tapName(p.id);
    const macs = new Set([p.mac_address, ...p.allowed_address_pairs.map((a) => (a.mac_address ?? p.mac_address).toLowerCase())]);
    const ips = new Set<string>();
    for (const f of p.fixed_ips) if (isIP(f.ip_address) === 4) ips.add(f.ip_address);
    for (const a of p.allowed_address_pairs) {
      const c = parseCidr(a.ip_address);
      if (c ? c[2] === 4 : isIP(a.ip_address) === 4) ips.add(a.ip_address);
    }
    lines.push(`    iifname "${tap}" ether saddr != { ${[...macs].join(', ')} } drop`);
    // 0.0.0.0 is an ARP probe (DAD), which claims no address.
    lines.push(`    iifname "${tap}" ether type arp arp saddr ip != { ${['0.0.0.0', ...ips].join(', ')} } drop`);
  }
  lines.push('  }', '}', '');
  return lines.join('\n');
}

export async function syncAntispoof(r: CommandRunner, ports: readonly HostPort[], problems: string[]): Promise<void> {
  try {
    await r.run('nft', ['-f', '-'], { input: antispoofRules(ports) });
  } catch (e) {
    problems.push(`nft antispoof: ${(e as Error).message}`);
  }
}
