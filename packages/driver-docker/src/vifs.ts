/**
 * Contract 1.3's VIFs for containers, as the libvirt driver's taps are for guests: each port is
 * a veth pair whose host end (the port's tap name, `tap` + port id) joins the network's bridge
 * (`brq` + network id) in the host's network namespace (`[docker] host_netns`) and whose other
 * end becomes the container's eth<N> with the port's MAC, MTU and fixed IPs (and the first
 * gateway as default route), so a container and a QEMU guest on one bridge reach each other.
 *
 * Docker gives the container a fresh network namespace at every start (NetworkMode none), so
 * the ports are kept in a label at create and wired again after each start and restart.
 * plugVifs makes sure the bridges exist (never changing one: the network agent owns it);
 * unplugVifs removes a host end left over. Interface attach/detach is not offered: a label
 * cannot change after create.
 */
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import type Docker from 'dockerode';
import {
  BackendUnavailable, bridgeNameOf, NotSupported, tapNameOf, type InstanceRef, type InstanceSpec, type VifCalls, type VifInfo,
} from '@orrery/virt-api';
import type { DockerHost } from './host.js';

export const VIFS_LABEL = 'org.orrery.vifs';

class CommandError extends Error {
  constructor(message: string, readonly stderr: string) {
    super(message);
  }
}

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve, reject) => {
    execFile(cmd, args, { timeout: 30_000, maxBuffer: 1024 * 1024 }, (err, stdout, stderr) => {
      if (err) reject(new CommandError(`${cmd} ${args.join(' ')}: ${String(stderr).trim() || err.message}`, String(stderr)));
      else resolve(String(stdout));
    });
  });
}

const GONE = /does not exist|Cannot find device|No such device/i;

/** What the label keeps of a port. */
type KeptVif = Pick<VifInfo, 'id' | 'mac' | 'networkId' | 'fixedIps' | 'mtu' | 'bridge' | 'devName' | 'subnets'>;

function keep(p: VifInfo): KeptVif {
  return { id: p.id, mac: p.mac, networkId: p.networkId, fixedIps: p.fixedIps, mtu: p.mtu, bridge: p.bridge, devName: p.devName, subnets: p.subnets };
}

/** The ports a container was created with (its label), or none. */
export function keptVifs(labels: Record<string, string> | undefined): KeptVif[] {
  const raw = labels?.[VIFS_LABEL];
  if (!raw) return [];
  try {
    const v = JSON.parse(raw) as unknown;
    return Array.isArray(v) ? (v as KeptVif[]) : [];
  } catch {
    return [];
  }
}

/** The label value for `ports` (the guard checked them: names are interface names, MACs MACs). */
export function vifsLabel(ports: readonly VifInfo[]): string {
  return JSON.stringify(ports.map(keep));
}

/** The prefix length of `ip`'s subnet among `p`'s, by version (a /32 or /128 when none is known). */
function withPrefix(ip: string, p: KeptVif): string {
  const v6 = ip.includes(':');
  const sub = p.subnets?.find((s) => (s.version === 6) === v6);
  const len = sub ? sub.cidr.split('/')[1] : undefined;
  return `${ip}/${len && /^\d{1,3}$/.test(len) ? len : v6 ? '128' : '32'}`;
}

export class DockerVifs implements Required<Pick<VifCalls, 'plugVifs' | 'unplugVifs'>> {
  constructor(readonly h: DockerHost) {}

  /** `ip …` in the host's network namespace (where the bridges are). */
  #hostIp(args: string[]): Promise<string> {
    const ns = this.h.requireCfg().hostNetns;
    return ns ? run('nsenter', [`--net=${ns}`, 'ip', ...args]) : run('ip', args);
  }

  async #exists(name: string): Promise<{ kind: string } | null> {
    try {
      const out = JSON.parse(await this.#hostIp(['-j', '-d', 'link', 'show', 'dev', name])) as Array<{ linkinfo?: { info_kind?: string } }>;
      return out[0] ? { kind: out[0].linkinfo?.info_kind ?? '' } : null;
    } catch (err) {
      if (err instanceof CommandError && GONE.test(err.stderr)) return null;
      throw new BackendUnavailable(`cannot read the host's links: ${(err as Error).message}`, { cause: err });
    }
  }

  async #ensureBridge(name: string): Promise<void> {
    const found = await this.#exists(name);
    if (found) {
      if (found.kind !== 'bridge') throw new NotSupported(`${name} exists on the host but is not a bridge`);
      return;
    }
    try {
      await this.#hostIp(['link', 'add', 'name', name, 'type', 'bridge']);
    } catch (err) {
      if (err instanceof CommandError && /File exists/i.test(err.stderr)) return; // the network agent made it meanwhile
      throw new BackendUnavailable(`cannot make bridge ${name}: ${(err as Error).message}`, { cause: err });
    }
    await this.#hostIp(['link', 'set', 'dev', name, 'up']);
  }

  async plugVifs(_ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    const bridges = new Set(ports.map((p) => p.bridge ?? bridgeNameOf(p.networkId)));
    for (const b of [...bridges].sort()) await this.#ensureBridge(b);
  }

  async unplugVifs(_ref: InstanceRef, ports: VifInfo[]): Promise<void> {
    for (const p of ports) await this.#removeHostEnd(p.devName ?? tapNameOf(p.id));
  }

  /** Removes a veth host end of ours (never anything else by that name). */
  async #removeHostEnd(dev: string): Promise<void> {
    const found = await this.#exists(dev);
    if (found?.kind !== 'veth') return;
    await this.#hostIp(['link', 'del', 'dev', dev]).catch((err: unknown) => {
      if (!(err instanceof CommandError && GONE.test(err.stderr))) throw err;
    });
  }

  /** Wires the ports of a container just started (spawn, rebuild). */
  async wire(spec: InstanceSpec, container: Docker.Container): Promise<void> {
    if (spec.network.ports.length === 0) return;
    const info = await container.inspect();
    await this.#wireAll(keptVifs({ [VIFS_LABEL]: vifsLabel(spec.network.ports) }), info.State.Pid);
  }

  /** Wires again the ports of a container that was started anew (power on, reboot). */
  async rewire(ref: InstanceRef, before: Docker.ContainerInspectInfo): Promise<void> {
    const ports = keptVifs(before.Config.Labels);
    if (ports.length === 0) return;
    const now = await this.h.inspect(ref);
    if (now.State.Running && now.State.Pid > 0) await this.#wireAll(ports, now.State.Pid);
  }

  /**
   * Wires the ports of a running container whose network namespace lacks them: one started
   * behind the driver's back (`docker start`), seen through its start event. A container the
   * driver started itself already has them, and is left alone.
   */
  async ensureWired(ref: InstanceRef): Promise<void> {
    const info = await this.h.inspect(ref);
    const ports = keptVifs(info.Config.Labels);
    if (ports.length === 0 || !info.State.Running || info.State.Pid <= 0) return;
    if ((await this.#nicsIn(info.State.Pid)).length >= ports.length) return;
    this.h.ctx?.log.info('docker: wiring the ports of a container started outside the driver', { instance: ref.uuid });
    await this.#wireAll(ports, info.State.Pid);
  }

  /** The eth<N> links in a process's network namespace, in order. */
  async #nicsIn(pid: number): Promise<Array<{ ifname: string; address?: string }>> {
    const out = JSON.parse(await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', '-j', 'link', 'show'])) as Array<{ ifname: string; address?: string }>;
    return out.filter((l) => /^eth\d+$/.test(l.ifname)).sort((a, b) => Number(a.ifname.slice(3)) - Number(b.ifname.slice(3)));
  }

  async #wireAll(ports: KeptVif[], pid: number): Promise<void> {
    if (!Number.isInteger(pid) || pid <= 0) throw new BackendUnavailable('the container has no process to wire its ports to');
    const firstGateway = ports.flatMap((p) => (p.subnets ?? []).filter((s) => s.version === 4 && s.gateway)).at(0)?.gateway ?? null;
    for (const [i, p] of ports.entries()) await this.#wireOne(p, i, pid);
    if (firstGateway) await run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', 'route', 'replace', 'default', 'via', firstGateway]).catch(() => undefined);
  }

  async #wireOne(p: KeptVif, index: number, pid: number): Promise<void> {
    const dev = p.devName ?? tapNameOf(p.id);
    const bridge = p.bridge ?? bridgeNameOf(p.networkId);
    const peer = `orx${randomBytes(4).toString('hex')}`;
    const inside = (args: string[]) => run('nsenter', [`--net=/proc/${pid}/ns/net`, 'ip', ...args]);
    // A host end of the container's previous network namespace may still be going away.
    await this.#removeHostEnd(dev);
    await this.#ensureBridge(bridge);
    const mtu = p.mtu !== undefined ? ['mtu', String(p.mtu)] : [];
    await this.#hostIp(['link', 'add', 'name', dev, ...mtu, 'type', 'veth', 'peer', 'name', peer, ...mtu]);
    try {
      await this.#hostIp(['link', 'set', 'dev', dev, 'master', bridge, 'up']);
      await this.#hostIp(['link', 'set', 'dev', peer, 'netns', String(pid)]);
      const eth = `eth${index}`;
      await inside(['link', 'set', 'dev', peer, 'name', eth]);
      await inside(['link', 'set', 'dev', eth, 'address', p.mac]);
      for (const ip of p.fixedIps) await inside(['addr', 'add', withPrefix(ip, p), 'dev', eth]);
      await inside(['link', 'set', 'dev', eth, 'up']);
    } catch (err) {
      await this.#hostIp(['link', 'del', 'dev', dev]).catch(() => undefined);
      throw new BackendUnavailable(`cannot wire port ${p.id}: ${(err as Error).message}`, { cause: err });
    }
  }

  /** The MACs of the container's NICs in its order (eth0, eth1, …; tests look at them). */
  async macs(ref: InstanceRef): Promise<string[]> {
    const info = await this.h.inspect(ref);
    if (!info.State.Running) return keptVifs(info.Config.Labels).map((p) => p.mac);
    return (await this.#nicsIn(info.State.Pid)).map((l) => l.address ?? '');
  }
}
