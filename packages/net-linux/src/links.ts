/** The host's links as `ip -j -d link show` describes them (the fields the data plane reads). */
import type { CommandRunner } from './runner.js';

export interface Link {
  ifindex: number;
  ifname: string;
  mtu: number;
  address?: string;
  flags: string[];
  operstate?: string;
  master?: string;
  linkinfo?: { info_kind?: string; info_data?: Record<string, unknown> };
}

export async function listLinks(r: CommandRunner): Promise<Map<string, Link>> {
  const links = await r.ipJson<Link>(['-d', 'link', 'show']);
  const m = new Map<string, Link>();
  for (const l of links) m.set(l.ifname, { ...l, flags: l.flags ?? [] });
  return m;
}

export const isUp = (l: Link): boolean => l.flags.includes('UP');
