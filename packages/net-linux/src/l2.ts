/**
 * L2 of a host: per network a bridge `brq…` holding either its VXLAN device (unicast, no
 * learning, head-end replication to the peers' tunneling IPs through all-zero FDB entries) or,
 * for a flat network, the physical interface `interface_mappings` names; and the local ports'
 * taps (made by the hypervisor) attached to their bridge. Converges without touching what is
 * already right (no flap of existing traffic) and removes only Orrery's own devices (brq…,
 * vxlan-…) that are no longer wanted.
 */
import type { HostNetwork, HostPort } from './host-state.js';
import { isUp, listLinks, type Link } from './links.js';
import { bridgeName, tapName, vxlanName } from './names.js';
import type { CommandRunner } from './runner.js';

export interface L2Options {
  /** Local tunneling IP (VXLAN `local`); VXLAN networks are skipped without one. */
  tunnelingIp: string | null;
  /** physical_network → interface of this host. */
  interfaceMappings: ReadonlyMap<string, string>;
  vxlanPort?: number;
}

const ZERO_MAC = '00:00:00:00:00:00';
const MANAGED_BRIDGE = /^brq[0-9a-zA-Z_-]{1,11}$/;
const MANAGED_VXLAN = /^vxlan-\d{1,8}$/;

export async function syncNetworks(r: CommandRunner, networks: readonly HostNetwork[], opts: L2Options, problems: string[]): Promise<void> {
  let links = await listLinks(r);
  const wantedBridges = new Set<string>();
  const wantedVxlans = new Set<string>();
  for (const n of networks) {
    const br = bridgeName(n.id);
    wantedBridges.add(br);
    await ensureBridge(r, links.get(br), br, n.mtu);
    if (n.network_type === 'vxlan') {
      if (!opts.tunnelingIp) {
        problems.push(`network ${n.id}: no tunneling_ip configured for VXLAN`);
        continue;
      }
      const vx = vxlanName(n.segmentation_id!);
      wantedVxlans.add(vx);
      await ensureVxlan(r, links.get(vx), vx, n, br, opts.tunnelingIp, opts.vxlanPort ?? 4789);
      await syncFdb(r, vx, n.vxlan_peers.filter((p) => p !== opts.tunnelingIp));
    } else {
      const dev = opts.interfaceMappings.get(n.physical_network!);
      const l = dev === undefined ? undefined : links.get(dev);
      if (!dev || !l) {
        problems.push(`network ${n.id}: physical network ${n.physical_network} has no interface on this host`);
        continue;
      }
      if (l.master !== br) await r.run('ip', ['link', 'set', 'dev', dev, 'master', br]);
      if (!isUp(l)) await r.run('ip', ['link', 'set', 'dev', dev, 'up']);
    }
  }
  links = await listLinks(r);
  // VXLAN devices first: a bridge deleted takes its ports out, never a physical interface away.
  for (const [name, l] of links) {
    if (MANAGED_VXLAN.test(name) && l.linkinfo?.info_kind === 'vxlan' && !wantedVxlans.has(name)) await r.run('ip', ['link', 'del', 'dev', name]);
  }
  // A bridge still holding a tap stays (Neutron's rule): the hypervisor may have plugged a guest
  // into it (plugVifs) before this host's state names its network; once no tap is left, it goes.
  const withTaps = new Set([...links.values()].filter((l) => l.ifname.startsWith('tap') && l.master).map((l) => l.master!));
  for (const [name, l] of links) {
    if (MANAGED_BRIDGE.test(name) && l.linkinfo?.info_kind === 'bridge' && !wantedBridges.has(name) && !withTaps.has(name)) await r.run('ip', ['link', 'del', 'dev', name]);
  }
}

async function ensureBridge(r: CommandRunner, l: Link | undefined, br: string, mtu: number): Promise<void> {
  if (!l) {
    // The hypervisor driver may make the bridge at the same moment (plugVifs): losing that race is fine.
    const res = await r.tryRun('ip', ['link', 'add', 'name', br, 'mtu', String(mtu), 'type', 'bridge', 'stp_state', '0']);
    if (res.code !== 0 && !/File exists/.test(res.stderr)) throw new Error(`ip link add ${br}: ${res.stderr.trim()}`);
    await r.run('ip', ['link', 'set', 'dev', br, 'up']);
    return;
  }
  if (!isUp(l)) await r.run('ip', ['link', 'set', 'dev', br, 'up']);
}

async function ensureVxlan(r: CommandRunner, l: Link | undefined, vx: string, n: HostNetwork, br: string, local: string, port: number): Promise<void> {
  const d = l?.linkinfo?.info_data;
  const right = l && l.linkinfo?.info_kind === 'vxlan' && d?.id === n.segmentation_id && d?.local === local && d?.port === port && d?.learning === false;
  if (l && !right) {
    await r.run('ip', ['link', 'del', 'dev', vx]);
    l = undefined;
  }
  if (!l) {
    await r.run('ip', ['link', 'add', 'name', vx, 'mtu', String(n.mtu), 'type', 'vxlan', 'id', String(n.segmentation_id), 'local', local, 'dstport', String(port), 'nolearning']);
    await r.run('ip', ['link', 'set', 'dev', vx, 'master', br, 'up']);
    return;
  }
  if (l.mtu !== n.mtu) await r.run('ip', ['link', 'set', 'dev', vx, 'mtu', String(n.mtu)]);
  if (l.master !== br) await r.run('ip', ['link', 'set', 'dev', vx, 'master', br]);
  if (!isUp(l)) await r.run('ip', ['link', 'set', 'dev', vx, 'up']);
}

/** Head-end replication: exactly one all-zero FDB entry per peer. */
async function syncFdb(r: CommandRunner, vx: string, peers: readonly string[]): Promise<void> {
  const out = await r.run('bridge', ['-j', 'fdb', 'show', 'dev', vx]);
  const entries = (out.trim() ? JSON.parse(out) : []) as Array<{ mac: string; dst?: string }>;
  const have = new Set(entries.filter((e) => e.mac === ZERO_MAC && e.dst).map((e) => e.dst!));
  const want = new Set(peers);
  for (const p of want) if (!have.has(p)) await r.run('bridge', ['fdb', 'append', ZERO_MAC, 'dev', vx, 'dst', p]);
  for (const p of have) if (!want.has(p)) await r.run('bridge', ['fdb', 'del', ZERO_MAC, 'dev', vx, 'dst', p]);
}

/**
 * Attaches the local ports' taps (when the hypervisor has made them) to their network's bridge
 * with the network's MTU, up when the port is admin up and down when not. Returns the ids of
 * the ports wired (tap present, on its bridge, up).
 */
export async function wirePorts(r: CommandRunner, ports: readonly HostPort[], networks: ReadonlyMap<string, HostNetwork>): Promise<Set<string>> {
  const links = await listLinks(r);
  const wired = new Set<string>();
  for (const p of ports) {
    const n = networks.get(p.network_id);
    if (!n) continue;
    const tap = tapName(p.id);
    const l = links.get(tap);
    const br = bridgeName(n.id);
    if (!l || !links.has(br)) continue;
    if (l.master !== br) await r.run('ip', ['link', 'set', 'dev', tap, 'master', br]);
    if (l.mtu !== n.mtu) await r.run('ip', ['link', 'set', 'dev', tap, 'mtu', String(n.mtu)]);
    if (p.admin_state_up && !isUp(l)) await r.run('ip', ['link', 'set', 'dev', tap, 'up']);
    if (!p.admin_state_up && isUp(l)) await r.run('ip', ['link', 'set', 'dev', tap, 'down']);
    if (p.admin_state_up) wired.add(p.id);
  }
  return wired;
}
