/**
 * Simulated hosts for the network agent's tests, all in namespaces the test creates (random
 * suffix, deleted in `after`): hosts joined by a veth underlay (their tunneling IPs), and
 * "guests" — a namespace per port whose eth0 (with the port's MAC) is the veth peer of the
 * port's tap in its host's namespace, as the hypervisor would make it.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, writeFileSync, chmodSync, readdirSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { randomBytes, randomUUID } from 'node:crypto';
import { commandExists } from '../support/backends.js';
import { tapName, type HostState, type HostPort, type HostSecurityGroup } from '@orrery/net-linux';

export const NEEDED = ['ip', 'bridge', 'nsenter', 'iptables-restore', 'ip6tables-restore', 'conntrack', 'dnsmasq', 'busybox', 'sysctl'];
export const netnsAvailable = (): boolean => process.getuid?.() === 0 && NEEDED.every(commandExists);

export const sh = (args: string[], input?: string): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', input, stdio: ['pipe', 'pipe', 'pipe'] });
export const inNs = (ns: string, args: string[]): string => sh(['ip', 'netns', 'exec', ns, ...args]);
export const tryNs = (ns: string, args: string[]): boolean => {
  try { inNs(ns, args); return true; } catch { return false; }
};

export class Lab {
  readonly sfx = randomBytes(3).toString('hex');
  readonly namespaces: string[] = [];
  readonly children: ChildProcess[] = [];
  readonly dir = mkdtempSync(join(tmpdir(), 'orrery-netagent-'));

  constructor() { chmodSync(this.dir, 0o755); }

  ns(name: string): string {
    const n = `o${name}${this.sfx}`;
    sh(['ip', 'netns', 'add', n]);
    this.namespaces.push(n);
    inNs(n, ['ip', 'link', 'set', 'lo', 'up']);
    return n;
  }

  /** Two hosts (or more) on one underlay: a bridge in a fabric namespace, host i at 10.250.<sfx>.i. */
  hosts(count: number): Array<{ ns: string; ip: string; prefix: string }> {
    const fabric = this.ns('fab');
    inNs(fabric, ['ip', 'link', 'add', 'ul', 'type', 'bridge']);
    inNs(fabric, ['ip', 'link', 'set', 'ul', 'up']);
    const out = [];
    for (let i = 1; i <= count; i++) {
      const h = this.ns(`h${i}`);
      sh(['ip', '-n', fabric, 'link', 'add', `u${i}`, 'type', 'veth', 'peer', 'name', 'eth0', 'netns', h]);
      inNs(fabric, ['ip', 'link', 'set', `u${i}`, 'master', 'ul', 'up']);
      const ip = `10.250.0.${i}`;
      inNs(h, ['ip', 'addr', 'add', `${ip}/24`, 'dev', 'eth0']);
      inNs(h, ['ip', 'link', 'set', 'eth0', 'up']);
      out.push({ ns: h, ip, prefix: `${h}-` });
    }
    return out;
  }

  /** A guest namespace for `port` on host namespace `host` (the hypervisor's part: the tap). */
  guest(host: string, port: { id: string; mac_address: string }, name: string): string {
    const g = this.ns(name);
    sh(['ip', '-n', host, 'link', 'add', tapName(port.id), 'type', 'veth', 'peer', 'name', 'eth0', 'netns', g]);
    inNs(g, ['ip', 'link', 'set', 'eth0', 'address', port.mac_address, 'up']);
    return g;
  }

  /** Runs busybox udhcpc in the guest; resolves with the environment its script saw. */
  dhcp(guest: string): Record<string, string> {
    const script = join(this.dir, 'udhcpc.sh');
    const outFile = join(this.dir, `lease-${guest}`);
    writeFileSync(script, '#!/bin/sh\nif [ "$1" = bound ]; then ip addr add "$ip/$mask" dev "$interface"; env > "$LEASE_OUT"; fi\nexit 0\n', { mode: 0o755 });
    execFileSync('ip', ['netns', 'exec', guest, 'busybox', 'udhcpc', '-i', 'eth0', '-n', '-q', '-t', '6', '-T', '1', '-s', script, '-O', 'mtu', '-O', 'staticroutes'],
      { env: { ...process.env, LEASE_OUT: outFile }, stdio: 'ignore', timeout: 20_000 });
    const env: Record<string, string> = Object.create(null);
    for (const line of readFileSync(outFile, 'utf8').split('\n')) {
      const i = line.indexOf('=');
      if (i > 0) env[line.slice(0, i)] = line.slice(i + 1);
    }
    return env;
  }

  /** A continuous ping (every 0.2 s) from `guest` to `ip`; `lastReply()` is the time of the last reply seen. */
  pinger(guest: string, ip: string): { lastReply: () => number; replies: () => number; stop: () => void } {
    const child = spawn('ip', ['netns', 'exec', guest, 'busybox', 'ping', '-i', '0.2', ip], { stdio: ['ignore', 'pipe', 'ignore'] });
    this.children.push(child);
    let last = 0;
    let count = 0;
    child.stdout!.on('data', (d: Buffer) => {
      const n = (d.toString().match(/bytes from/g) ?? []).length;
      if (n > 0) { count += n; last = Date.now(); }
    });
    return { lastReply: () => last, replies: () => count, stop: () => { child.kill('SIGKILL'); } };
  }

  cleanup(): void {
    for (const c of this.children) if (c.exitCode === null) c.kill('SIGKILL');
    // dnsmasq / proxies started in our namespaces: found by their namespace, killed by pid.
    for (const ns of this.namespaces) {
      try {
        for (const pid of sh(['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      } catch { /* gone */ }
    }
    let all: string[] = [];
    try { all = readdirSync('/run/netns'); } catch { /* none */ }
    // the agents' own qdhcp namespaces carry a host's prefix: theirs too
    for (const ns of all.filter((n) => n.includes(this.sfx) && !this.namespaces.includes(n))) {
      try {
        for (const pid of sh(['ip', 'netns', 'pids', ns]).split('\n').filter(Boolean)) try { process.kill(Number(pid), 'SIGKILL'); } catch { /* gone */ }
      } catch { /* gone */ }
      try { sh(['ip', 'netns', 'del', ns]); } catch { /* gone */ }
    }
    for (const ns of [...this.namespaces].reverse()) try { sh(['ip', 'netns', 'del', ns]); } catch { /* gone */ }
  }
}

export const uuid = (): string => randomUUID();
export const mac = (): string => `fa:16:3e:${[0, 0, 0].map(() => randomBytes(1).toString('hex')).join(':')}`;

/** A compute port of the test network. */
export function port(networkId: string, subnetId: string, ip: string, groups: string[]): HostPort {
  return {
    id: uuid(), network_id: networkId, mac_address: mac(), fixed_ips: [{ subnet_id: subnetId, ip_address: ip }],
    device_owner: 'compute:nova', device_id: uuid(), admin_state_up: true, port_security_enabled: true,
    allowed_address_pairs: [], security_group_ids: groups,
  };
}

/** Neutron's default group: ingress from itself, egress anywhere (v4 and v6). */
export function defaultGroup(id: string, members: string[]): HostSecurityGroup {
  return {
    id, stateful: true, member_ips: members,
    rules: [
      { id: uuid(), direction: 'ingress', ethertype: 'IPv4', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: id },
      { id: uuid(), direction: 'ingress', ethertype: 'IPv6', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: id },
      { id: uuid(), direction: 'egress', ethertype: 'IPv4', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: null },
      { id: uuid(), direction: 'egress', ethertype: 'IPv6', protocol: null, port_range_min: null, port_range_max: null, remote_ip_prefix: null, remote_group_id: null },
    ],
  };
}

export function emptyState(): HostState {
  return { revision: 'r0', networks: [], subnets: [], ports: [], dhcp: [], security_groups: [], metadata: { enabled: true } };
}

export async function until(pred: () => boolean, ms: number, step = 100): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (pred()) return true;
    await new Promise((r) => setTimeout(r, step));
  }
  return pred();
}
