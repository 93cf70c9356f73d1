import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { natRuleset, NAT_TABLE } from './l3-nat.js';
import type { L3HostState, L3Port, L3Router } from './l3-types.js';
import { routerGatewayName, routerInternalName, tapName, validIfName } from './names.js';
import { CommandRunner } from './runner.js';

export type * from './l3-types.js';

export interface L3DataplaneOptions {
  /** Runs commands in the host's network namespace (where the bridges are); default: this process's own. */
  runner?: CommandRunner;
  /**
   * Put before every router namespace's name (`<prefix>qrouter-<id>`), as the agent's DHCP
   * namespaces: several simulated hosts on one machine share /run/netns. Empty on a real host.
   */
  namespacePrefix?: string;
  /**
   * A directory remembering which router namespaces this agent made. Router namespaces have
   * global names (/run/netns), so two agents on one machine (tests, or a host's namespace per
   * agent) must not remove each other's; without it every `qrouter-*` namespace counts as ours.
   */
  stateDir?: string;
  /** Where named namespaces live; /run/netns as `ip netns` has it. */
  netnsDir?: string;
}

interface LinkInfo { ifname: string; ifindex: number; address?: string; mtu?: number; master?: string; flags?: string[] }
interface AddrInfo { ifname: string; addr_info?: Array<{ family: string; local: string; prefixlen: number }> }
interface RouteInfo { dst: string; gateway?: string; dev?: string; protocol?: string }

const ROUTER_NS = 'qrouter-';
const ROUTER_DEV = /^q[rg]-/;
/** A router id as it may appear in a namespace name (a UUID, or any id without '/' or NUL). */
const ROUTER_ID = /^[A-Za-z0-9_.-]{1,64}$/;

/**
 * The routers of one host as Neutron's L3 agent (linuxbridge flavour) makes them: a namespace
 * `qrouter-<id>` per router, a veth per router port (`qr-…`/`qg-…` inside, `tap…` in the host
 * namespace enslaved to the network's bridge), the ports' addresses and the floating addresses
 * on `qg-…`, the default route via the external gateway and extraroute's routes, IPv4
 * forwarding on, and one nftables table of NAT (SNAT of the internal subnets to the gateway
 * address, 1:1 DNAT+SNAT per floating IP). `sync` is idempotent: what is already right is kept
 * (same ifindex, no flap), what differs is changed, what is no longer wanted is removed.
 */
export class L3Dataplane {
  private readonly host: CommandRunner;
  private readonly prefix: string;
  private readonly netnsDir: string;
  /** The NAT ruleset last applied per namespace: re-applying an identical one is skipped. */
  private readonly applied = new Map<string, string>();
  private queue: Promise<unknown> = Promise.resolve();

  constructor(private readonly opts: L3DataplaneOptions = {}) {
    this.host = opts.runner ?? new CommandRunner();
    this.prefix = opts.namespacePrefix ?? '';
    this.netnsDir = opts.netnsDir ?? '/run/netns';
  }

  /** The namespace this host uses for a router. */
  namespaceOf(routerId: string): string {
    return `${this.prefix}${ROUTER_NS}${routerId}`;
  }

  /**
   * Converges the host to `state`; resolves with the ids of the router ports whose devices are
   * wired into their bridges (the agent reports them in `devices_up`). Calls are serialized.
   */
  sync(state: L3HostState): Promise<string[]> {
    const run = this.queue.then(() => this.syncNow(state));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async syncNow(state: L3HostState): Promise<string[]> {
    const wanted = new Map<string, L3Router>();
    for (const r of state.routers) {
      if (!ROUTER_ID.test(r.id)) throw new Error(`refusing router id ${JSON.stringify(r.id)}`);
      if (r.admin_state_up) wanted.set(this.namespaceOf(r.id), r);
    }
    const up: string[] = [];
    const errors: string[] = [];
    for (const [ns, r] of wanted) {
      try {
        up.push(...await this.syncRouter(ns, r));
      } catch (e) {
        // One router failing must not keep the others from converging; the error is raised after.
        errors.push(`${r.id}: ${(e as Error).message}`);
      }
    }
    for (const ns of this.ownedNamespaces()) {
      if (wanted.has(ns)) continue;
      try {
        await this.removeRouter(ns);
      } catch (e) {
        errors.push(`${ns}: ${(e as Error).message}`);
      }
    }
    if (errors.length > 0) throw new Error(`L3 sync failed for ${errors.length} router(s): ${errors.join('; ')}`);
    return up;
  }

  /** The router namespaces this agent is responsible for. */
  private ownedNamespaces(): string[] {
    const mine = (n: string): boolean => n.startsWith(`${this.prefix}${ROUTER_NS}`);
    const dir = this.opts.stateDir ?? this.netnsDir;
    return existsSync(dir) ? readdirSync(dir).filter(mine) : [];
  }

  private nsRunner(ns: string): CommandRunner {
    return this.host.inNetns(join(this.netnsDir, ns));
  }

  private async syncRouter(ns: string, r: L3Router): Promise<string[]> {
    const ports: Array<{ port: L3Port; extra: string[] }> = r.interfaces.map((p) => ({ port: p, extra: [] }));
    if (r.gateway) ports.push({ port: r.gateway, extra: r.floating_ips.map((f) => `${f.floating_ip_address}/32`) });
    for (const { port } of ports) {
      const expect = port === r.gateway ? routerGatewayName(port.port_id) : routerInternalName(port.port_id);
      if (port.interface !== expect || port.tap_name !== tapName(port.port_id) || !validIfName(port.bridge_name)) {
        throw new Error(`port ${port.port_id}: device names ${port.interface}/${port.tap_name}/${port.bridge_name} are not #13's`);
      }
    }
    if (this.opts.stateDir) {
      mkdirSync(this.opts.stateDir, { recursive: true });
      writeFileSync(join(this.opts.stateDir, ns), `${r.id}\n`);
    }
    if (!existsSync(join(this.netnsDir, ns))) await this.host.run('ip', ['netns', 'add', ns]);
    const inNs = this.nsRunner(ns);
    await inNs.run('ip', ['link', 'set', 'lo', 'up']);
    await inNs.run('sysctl', ['-qw', 'net.ipv4.ip_forward=1']);
    // IPv6 interfaces are routed too; a kernel without IPv6 has no such key (nothing to forward then).
    await inNs.tryRun('sysctl', ['-qw', 'net.ipv6.conf.all.forwarding=1']);

    const wantedDevs = new Set(ports.map((p) => p.port.interface));
    // Stale router devices first: a port re-added under another name must not collide.
    for (const l of await inNs.ipJson<LinkInfo>(['link', 'show'])) {
      if (ROUTER_DEV.test(l.ifname) && !wantedDevs.has(l.ifname)) await inNs.run('ip', ['link', 'del', 'dev', l.ifname]);
    }
    const byName = new Map((await inNs.ipJson<LinkInfo>(['link', 'show'])).map((l) => [l.ifname, l]));
    const up: string[] = [];
    for (const { port, extra } of ports) {
      await this.ensurePort(ns, port, byName.get(port.interface));
      await this.ensureAddresses(inNs, port.interface, [...port.fixed_ips.map((ip) => `${ip.ip_address}/${ip.prefixlen}`), ...extra]);
      if (await this.ensureBridged(port)) up.push(port.port_id);
    }
    await this.ensureRoutes(inNs, r);
    await this.ensureNat(inNs, ns, r);
    return up;
  }

  private async hostLink(name: string): Promise<LinkInfo | null> {
    return (await this.host.ipJson<LinkInfo>(['link', 'show'])).find((l) => l.ifname === name) ?? null;
  }

  /** The veth pair of one port: made when missing, its MAC and MTU corrected, the inside end up. */
  private async ensurePort(ns: string, p: L3Port, inside: LinkInfo | undefined): Promise<void> {
    const inNs = this.nsRunner(ns);
    if (!inside) {
      // A host end left without its peer (an interrupted earlier sync) would block the name.
      if (await this.hostLink(p.tap_name)) await this.host.run('ip', ['link', 'del', 'dev', p.tap_name]);
      await this.host.run('ip', ['link', 'add', p.tap_name, 'mtu', String(p.mtu), 'type', 'veth',
        'peer', 'name', p.interface, 'address', p.mac_address, 'mtu', String(p.mtu), 'netns', ns]);
    } else {
      if (inside.address?.toLowerCase() !== p.mac_address.toLowerCase()) await inNs.run('ip', ['link', 'set', 'dev', p.interface, 'address', p.mac_address]);
      if (inside.mtu !== p.mtu) {
        await inNs.run('ip', ['link', 'set', 'dev', p.interface, 'mtu', String(p.mtu)]);
        await this.host.run('ip', ['link', 'set', 'dev', p.tap_name, 'mtu', String(p.mtu)]);
      }
    }
    if (!inside?.flags?.includes('UP')) await inNs.run('ip', ['link', 'set', 'dev', p.interface, 'up']);
  }

  /**
   * The host end in the network's bridge and up. The L2 agent also attaches taps it finds; doing
   * it here as well means a router works as soon as its bridge exists. False while the bridge
   * does not exist yet (the port is then not reported up).
   */
  private async ensureBridged(p: L3Port): Promise<boolean> {
    const tap = await this.hostLink(p.tap_name);
    if (!tap) return false;
    const bridge = await this.hostLink(p.bridge_name);
    if (bridge && tap.master !== p.bridge_name) await this.host.run('ip', ['link', 'set', 'dev', p.tap_name, 'master', p.bridge_name]);
    if (!tap.flags?.includes('UP')) await this.host.run('ip', ['link', 'set', 'dev', p.tap_name, 'up']);
    return bridge !== null;
  }

  /** Exactly `wanted` (address/prefix) on the device; link-local IPv6 addresses are the kernel's. */
  private async ensureAddresses(inNs: CommandRunner, dev: string, wanted: string[]): Promise<void> {
    const out = await inNs.ipJson<AddrInfo>(['addr', 'show', 'dev', dev]);
    const have = new Set<string>();
    for (const a of out[0]?.addr_info ?? []) {
      if (a.family === 'inet6' && a.local.toLowerCase().startsWith('fe80:')) continue;
      have.add(`${a.local}/${a.prefixlen}`);
    }
    const want = new Set(wanted);
    for (const a of want) if (!have.has(a)) await inNs.run('ip', ['addr', 'add', a, 'dev', dev]);
    for (const a of have) if (!want.has(a)) await inNs.run('ip', ['addr', 'del', a, 'dev', dev]);
  }

  /**
   * The default route via the first IPv4 external gateway and extraroute's routes, added as
   * `proto static` so that the ones no longer wanted are told from the kernel's connected routes.
   */
  private async ensureRoutes(inNs: CommandRunner, r: L3Router): Promise<void> {
    const want = new Map<string, string>();
    const gw = r.gateway?.gateway_ips.find((ip) => !ip.includes(':'));
    if (r.gateway && gw) want.set('default', gw);
    for (const route of r.routes) {
      if (route.destination.includes(':')) continue;
      want.set(route.destination === '0.0.0.0/0' ? 'default' : route.destination, route.nexthop);
    }
    const have = new Map((await inNs.ipJson<RouteInfo>(['-4', 'route', 'show', 'proto', 'static'])).map((h) => [h.dst, h.gateway ?? '']));
    for (const [dst, via] of want) if (have.get(dst) !== via) await inNs.run('ip', ['-4', 'route', 'replace', dst, 'via', via, 'proto', 'static']);
    for (const dst of have.keys()) if (!want.has(dst)) await inNs.run('ip', ['-4', 'route', 'del', dst, 'proto', 'static']);
  }

  /** The router's NAT table, replaced in one nft transaction (conntrack's NAT bindings survive it). */
  private async ensureNat(inNs: CommandRunner, ns: string, r: L3Router): Promise<void> {
    const text = natRuleset(r);
    if (this.applied.get(ns) === text) return;
    await inNs.run('nft', ['-f', '-'], { input: text });
    this.applied.set(ns, text);
  }

  /**
   * Deletes a router: its veths first (their host ends go at once; a namespace's own devices are
   * only destroyed when the kernel's deferred namespace cleanup runs, which left a tap behind for
   * a moment in measurement), then the namespace.
   */
  private async removeRouter(ns: string): Promise<void> {
    if (existsSync(join(this.netnsDir, ns))) {
      const inNs = this.nsRunner(ns);
      for (const l of await inNs.ipJson<LinkInfo>(['link', 'show'])) {
        if (ROUTER_DEV.test(l.ifname)) await inNs.run('ip', ['link', 'del', 'dev', l.ifname]);
      }
      await this.host.run('ip', ['netns', 'del', ns]);
    }
    if (this.opts.stateDir) rmSync(join(this.opts.stateDir, ns), { force: true });
    this.applied.delete(ns);
  }
}

export { NAT_TABLE };
