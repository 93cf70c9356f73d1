import type { GuardedVirtDriver, NetworkInfo, VifInfo as DriverVif } from '@orrery/virt-api';
import { instanceRef } from './specs.js';
import type { NetworkClient, NeutronNetwork, NeutronPort, NeutronSubnet } from '../clients/network-client.js';
import { Conflict, errorMessage, statusOf } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Instance } from '../objects/compute.js';
import type { NetworkRequest, RequestedNetwork, VifInfo } from '../objects/network.js';

/**
 * The compute service's side of Nova's neutron API (nova/network/neutron.py): the ports of an
 * instance made (or the user's bound) at build, the typed network info handed to the driver,
 * the info cache reported to the conductor, and everything undone when the build fails or the
 * server goes. It speaks to the Network API with the service user's credentials and acts on
 * the instance's project (device_id = the instance uuid is what ties a port to it).
 */


/** Ports one server may have (Nova bounds it by the quota; this bounds what one list call may answer). */
const MAX_PORTS = 64;

export interface Allocation {
  /** What the driver is given. */
  vifs: DriverVif[];
  /** The info cache. */
  cache: VifInfo[];
  /** The ports made by this allocation (deleted when the build fails), and the user's it bound (unbound then). */
  created: string[];
  bound: string[];
}

export type { DriverVif };

const bridgeOf = (networkId: string): string => `brq${networkId.slice(0, 11)}`;
const tapOf = (portId: string): string => `tap${portId.slice(0, 11)}`;

export class InstanceNetworking {
  constructor(private readonly client: NetworkClient, readonly hostName: string, private readonly log: Logger) {}

  /**
   * Makes or binds the ports `req` asks for, for `inst` on this host. On any failure what it made
   * is undone before it throws: a failed allocation leaves no port.
   */
  async allocate(inst: Instance, req: NetworkRequest | undefined): Promise<Allocation> {
    const out: Allocation = { vifs: [], cache: [], created: [], bound: [] };
    if (!req || req.mode === 'none') return out;
    try {
      const wanted = req.mode === 'auto' ? [{ networkId: await this.autoNetwork(inst.projectId) }] : req.networks;
      const ports: Array<{ port: NeutronPort; created: boolean }> = [];
      for (const w of wanted) {
        const made = await this.portFor(inst, w, req.securityGroupIds);
        (made.created ? out.created : out.bound).push(made.port.id);
        ports.push(made);
      }
      const described = await this.describe(ports.map((p) => p.port), new Set(out.created));
      out.vifs = described.vifs;
      out.cache = described.cache;
      return out;
    } catch (err) {
      await this.release(out.created, out.bound);
      throw err;
    }
  }

  /** The network `auto` means: the project's one network, else Neutron's get-me-a-network topology. */
  private async autoNetwork(projectId: string): Promise<string> {
    const own = await this.client.listNetworks({ project_id: projectId, 'router:external': 'false' });
    const shared = await this.client.listNetworks({ shared: 'true' });
    const all = new Map([...own, ...shared].filter((n) => n['router:external'] !== true).map((n) => [n.id, n]));
    if (all.size === 1) return [...all.keys()][0]!;
    if (all.size > 1) throw new Conflict('Multiple possible networks found, use a Network ID to be more specific.');
    const topo = await this.client.call<{ auto_allocated_topology: { id: string } }>(
      'GET', `/v2.0/auto-allocated-topology/${encodeURIComponent(projectId)}`,
    );
    return topo.auto_allocated_topology.id;
  }

  private async portFor(inst: Instance, w: RequestedNetwork, securityGroups: string[]): Promise<{ port: NeutronPort; created: boolean }> {
    const binding = {
      device_id: inst.uuid, device_owner: `compute:${inst.availabilityZone ?? 'nova'}`, 'binding:host_id': this.hostName,
    };
    if (w.portId) {
      const port = await this.client.getPort(w.portId);
      // The API checked it was free; a port taken meanwhile by another server is refused here.
      if (port.device_id !== '' && port.device_id !== inst.uuid) throw new Conflict(`Port ${port.id} is still in use.`);
      return { port: await this.client.updatePort(port.id, binding), created: false };
    }
    const body: Record<string, unknown> = { network_id: w.networkId, project_id: inst.projectId, ...binding };
    if (w.fixedIp) body.fixed_ips = [{ ip_address: w.fixedIp }];
    if (securityGroups.length > 0) body.security_groups = securityGroups;
    return { port: await this.client.createPort(body), created: true };
  }

  /** The driver's VIFs and the info cache of `ports`, with their networks and subnets read once each. */
  async describe(ports: NeutronPort[], createdByCompute: Set<string>): Promise<{ vifs: DriverVif[]; cache: VifInfo[] }> {
    const networks = new Map<string, NeutronNetwork>();
    const subnets = new Map<string, NeutronSubnet>();
    for (const id of new Set(ports.map((p) => p.network_id))) networks.set(id, await this.client.getNetwork(id));
    const subnetIds = [...new Set(ports.flatMap((p) => p.fixed_ips.map((f) => f.subnet_id)))];
    if (subnetIds.length > 0) for (const s of await this.client.listSubnets({ id: subnetIds })) subnets.set(s.id, s);
    const floating = new Map<string, string[]>();
    if (ports.length > 0) {
      for (const f of await this.client.listFloatingIps({ port_id: ports.map((p) => p.id) }).catch(() => [])) {
        if (f.fixed_ip_address) floating.set(`${f.port_id}/${f.fixed_ip_address}`, [...(floating.get(`${f.port_id}/${f.fixed_ip_address}`) ?? []), f.floating_ip_address]);
      }
    }
    const vifs: DriverVif[] = [];
    const cache: VifInfo[] = [];
    for (const p of ports) {
      const net = networks.get(p.network_id);
      const mtu = net?.mtu ?? 1500;
      const details = p['binding:vif_details'];
      const bridge = typeof details?.bridge_name === 'string' ? details.bridge_name : bridgeOf(p.network_id);
      const sn = p.fixed_ips.map((f) => subnets.get(f.subnet_id)).filter((s): s is NeutronSubnet => s !== undefined);
      vifs.push({
        id: p.id, mac: p.mac_address, networkId: p.network_id, fixedIps: p.fixed_ips.map((f) => f.ip_address),
        mtu, bridge, devName: tapOf(p.id), vifType: 'bridge',
        subnets: [...new Map(sn.map((s) => [s.id, { cidr: s.cidr, gateway: s.gateway_ip, version: s.ip_version }])).values()],
      });
      cache.push({
        port_id: p.id, network_id: p.network_id, network_label: net?.name ?? p.network_id, mac: p.mac_address, mtu,
        created_by_compute: createdByCompute.has(p.id),
        fixed_ips: p.fixed_ips.map((f) => ({
          address: f.ip_address, version: f.ip_address.includes(':') ? 6 : 4, subnet_id: f.subnet_id,
          floating_ips: floating.get(`${p.id}/${f.ip_address}`) ?? [],
        })),
      });
    }
    return { vifs, cache };
  }

  /** The ports of `inst` as the Network API has them now (device_id), in the order of its cache. */
  async portsOf(inst: Pick<Instance, 'uuid' | 'networkInfo'>): Promise<NeutronPort[]> {
    const ports = await this.client.listPorts({ device_id: inst.uuid, limit: String(MAX_PORTS) });
    const order = new Map((inst.networkInfo ?? []).map((v, i) => [v.port_id, i]));
    return ports.filter((p) => p.device_owner.startsWith('compute:'))
      .sort((a, b) => (order.get(a.id) ?? MAX_PORTS) - (order.get(b.id) ?? MAX_PORTS));
  }

  /** The server's VIFs and cache now (a move, a restart, a refresh). */
  async current(inst: Pick<Instance, 'uuid' | 'networkInfo'>): Promise<{ vifs: DriverVif[]; cache: VifInfo[]; ports: NeutronPort[] }> {
    const ports = await this.portsOf(inst);
    const made = new Set((inst.networkInfo ?? []).filter((v) => v.created_by_compute).map((v) => v.port_id));
    return { ...(await this.describe(ports, made)), ports };
  }

  /** Binds the server's ports to `host` (a move's destination), as Nova's migrate_instance_finish / setup_networks_on_host. */
  async bindTo(inst: Pick<Instance, 'uuid' | 'networkInfo'>, host: string): Promise<NeutronPort[]> {
    const ports = await this.portsOf(inst);
    const out: NeutronPort[] = [];
    for (const p of ports) out.push(p['binding:host_id'] === host ? p : await this.client.updatePort(p.id, { 'binding:host_id': host }));
    return out;
  }

  /** Clears binding:host_id of `ports` (the server stays their device). */
  async unbindHost(ports: NeutronPort[]): Promise<void> {
    for (const p of ports) if (p['binding:host_id']) await this.client.updatePort(p.id, { 'binding:host_id': '' });
  }

  /**
   * The server is gone (or its build failed): the ports Orrery made are deleted, the user's
   * unbound (device_id, device_owner and binding cleared) — Nova's deallocate_for_instance with
   * preserve_on_delete. The cache says which is which; without one, every port is the user's
   * unless `created` names it.
   */
  async deallocate(inst: Pick<Instance, 'uuid' | 'networkInfo'>, created: string[] = []): Promise<void> {
    const made = new Set([...created, ...(inst.networkInfo ?? []).filter((v) => v.created_by_compute).map((v) => v.port_id)]);
    const ports = await this.client.listPorts({ device_id: inst.uuid, limit: String(MAX_PORTS) });
    const toDelete = ports.filter((p) => made.has(p.id)).map((p) => p.id);
    // Also those made but not (or no longer) listed under the device: a build that failed mid-update.
    for (const id of made) if (!toDelete.includes(id) && created.includes(id)) toDelete.push(id);
    await this.release(toDelete, ports.filter((p) => !made.has(p.id) && p.device_owner.startsWith('compute:')).map((p) => p.id));
  }

  /** Deletes `created` and unbinds `bound`; each failure logged, the first rethrown after all were tried. */
  async release(created: string[], bound: string[]): Promise<void> {
    let first: unknown = null;
    for (const id of created) {
      await this.client.deletePort(id).catch((err: unknown) => {
        first ??= err;
        this.log.warn({ port: id, err: errorMessage(err) }, 'could not delete a port');
      });
    }
    for (const id of bound) {
      await this.client.updatePort(id, { device_id: '', device_owner: '', 'binding:host_id': '' }).catch((err: unknown) => {
        // Gone already: nothing to unbind.
        if (statusOf(err) === 404) return;
        first ??= err;
        this.log.warn({ port: id, err: errorMessage(err) }, 'could not unbind a port');
      });
    }
    if (first !== null) throw first;
  }
}

/**
 * The move steps' part (moves.ts), Nova's setup_networks_on_host / migrate_instance_finish:
 * `here` binds the server's ports to this host (when `bind`) and plugs them into it, answering
 * the driver's network info; `away` unplugs what this host has of them unless they are still
 * bound here (a move within one host keeps its guest's taps).
 */
export class MoveNetworking {
  constructor(private readonly d: GuardedVirtDriver, private readonly n: InstanceNetworking | null, private readonly log: Logger) {}

  async here(inst: Instance, o: { bind: boolean }): Promise<NetworkInfo> {
    if (!this.n || !inst.networkInfo?.length) return { ports: [] };
    const ports = o.bind ? await this.n.bindTo(inst, this.n.hostName) : await this.n.portsOf(inst);
    const made = new Set(inst.networkInfo.filter((v) => v.created_by_compute).map((v) => v.port_id));
    const { vifs } = await this.n.describe(ports, made);
    if (vifs.length > 0 && this.d.supports('plugVifs')) await this.d.plugVifs(instanceRef(inst), vifs);
    return { ports: vifs };
  }

  /** Binds the ports to this host only (the guest already runs here: a live migration's end). */
  async bind(inst: Instance): Promise<void> {
    if (this.n && inst.networkInfo?.length) await this.n.bindTo(inst, this.n.hostName);
  }

  async away(inst: Instance, o: { unbind?: boolean } = {}): Promise<void> {
    if (!this.n || !inst.networkInfo?.length) return;
    try {
      const { vifs, ports } = await this.n.current(inst);
      const elsewhere = ports.every((p) => p['binding:host_id'] !== this.n!.hostName);
      if (vifs.length > 0 && (elsewhere || o.unbind) && this.d.supports('unplugVifs')) await this.d.unplugVifs(instanceRef(inst), vifs);
      // Shelve offload: bound to no host until unshelve binds them again.
      if (o.unbind) await this.n.unbindHost(ports);
    } catch (err) {
      this.log.warn({ instance: inst.uuid, err: errorMessage(err) }, 'could not unplug the VIFs of a server that left');
    }
  }
}
