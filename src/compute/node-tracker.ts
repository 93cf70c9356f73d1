import { capabilityTraits, type Capabilities, type GuardedVirtDriver, type NodeInfo } from '@orrery/virt-api';
import type { Config } from '../common/config.js';
import { errorMessage } from '../common/errors.js';
import { ServiceUnavailable } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { ComputeNodeReport } from '../objects/compute.js';
import type { Bus, RpcHandler, Subscription } from '../rpc/bus.js';
import { computeTopic } from '../rpc/compute-api.js';
import type { ConductorRpcApi } from '../rpc/conductor-api.js';
import { systemContext } from '../rpc/dispatch.js';
import { isStaleOwnership, staleNodesOf, type NodeClaim } from '../rpc/node-ownership.js';
import { servingNode } from './node-claims.js';

export interface NodeTrackerOptions {
  config: Config;
  host: string;
  log: Logger;
  bus: Bus;
  /** The guarded driver (it answers which contract calls the agreed version has). */
  driver: GuardedVirtDriver;
  conductor: ConductorRpcApi;
}

/** A node this compute serves: its name (the topic), UUID and, for a shared node, the generation it holds. */
interface Served {
  name: string;
  uuid: string;
  generation: number | null;
}

/**
 * The nodes this compute serves, kept current while it runs (issue #11 "living nodes"): the
 * driver's nodes are read again every `[compute] node_refresh_interval` seconds, additions,
 * removals and inventory changes are reported through the conductor, and the per-node topics
 * `compute.<node>` are subscribed and unsubscribed to match.
 *
 * Node-local drivers: this host serves every node its driver reports (compute_nodes_update,
 * sent when the set or an inventory changed). Shared nodes (Capabilities.sharedNodes): every
 * report interval the tracker sends cluster_sync — the nodes the driver sees and the claims
 * held — and serves exactly the nodes the conductor answers it owns. A refused claim
 * (StaleNodeOwnership: this host was paused or cut off while its nodes moved) drops those nodes
 * at once, and a message being handled for one of them is given back to the broker for the
 * node's new owner.
 */
export class NodeTracker {
  private readonly served = new Map<string, Served>();
  private readonly subs = new Map<string, Subscription>();
  /** Each node's report as last accepted by the conductor (JSON), to send only what changed. */
  private readonly accepted = new Map<string, string>();
  private seen: NodeInfo[] = [];
  /** The nodes the conductor was told of in the last accepted cluster sync. */
  private told = new Set<string>();
  private lastRead = 0;
  private handler: RpcHandler | null = null;
  private caps!: Capabilities;
  /** One refresh at a time: periodic ticks, start and a drop after a refusal queue behind each other. */
  private running: Promise<void> = Promise.resolve();
  private timer?: NodeJS.Timeout;
  private stopped = false;
  private offNodeEvents?: () => void;
  /** A refresh asked for by a node event and not yet begun: further events join it. */
  private eventRefresh = false;

  constructor(private readonly o: NodeTrackerOptions) {}

  get cluster(): string | null {
    return this.caps.sharedNodes?.cluster ?? null;
  }

  /** Names of the nodes served now. */
  nodeNames(): string[] {
    return [...this.served.keys()].sort();
  }

  /** The claim this host holds on shared node `name`, or null when it does not serve it. */
  claimFor(name: string): NodeClaim | null {
    const s = this.served.get(name);
    return s && s.generation !== null ? { host: this.o.host, nodeUuid: s.uuid, generation: s.generation } : null;
  }

  /** First report (before the service listens: recovery needs to know its nodes first). */
  async start(caps: Capabilities): Promise<void> {
    this.caps = caps;
    await this.refresh(true);
    // Contract 1.1 node events: a change is reported at once rather than at the next refresh
    // (a 1.0 driver has refreshes only).
    if (this.o.driver.supports('onNodeEvent')) this.offNodeEvents = this.o.driver.onNodeEvent(() => this.onNodeEvent());
  }

  private onNodeEvent(): void {
    if (this.eventRefresh || !this.handler) return;
    this.eventRefresh = true;
    this.queue(async () => {
      this.eventRefresh = false;
    }).then(() => this.refresh(true)).catch((err: unknown) => this.o.log.warn({ err: errorMessage(err) }, 'node refresh after a node event failed'));
  }

  /** Serves the topics of the nodes owned, from now on following every change. */
  async listen(handler: RpcHandler): Promise<void> {
    this.handler = handler;
    await this.queue(() => this.resubscribe());
    const { config } = this.o;
    // A shared node's owner must sync at least every report interval: that is its liveness.
    const seconds = this.cluster ? config.num('DEFAULT', 'report_interval') : config.num('compute', 'node_refresh_interval');
    if (seconds <= 0) return;
    this.timer = setInterval(() => {
      this.refresh(false).catch((err: unknown) => this.o.log.warn({ err: errorMessage(err) }, 'node refresh failed'));
    }, seconds * 1000);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    clearInterval(this.timer);
    this.offNodeEvents?.();
    await this.running.catch(() => undefined);
    for (const s of this.subs.values()) await s.close();
    this.subs.clear();
  }

  /** Reads the driver's nodes again (now, or when the refresh interval is due) and reports them. */
  refresh(forceRead: boolean): Promise<void> {
    return this.queue(async () => {
      const due = Date.now() - this.lastRead >= this.o.config.num('compute', 'node_refresh_interval') * 1000;
      if (forceRead || due) {
        this.seen = await this.o.driver.listNodes();
        this.lastRead = Date.now();
      }
      if (this.cluster) await this.syncCluster(this.cluster);
      else await this.reportLocal();
      await this.resubscribe();
    });
  }

  private queue(step: () => Promise<void>): Promise<void> {
    const next = this.running.then(() => (this.stopped ? undefined : step()));
    this.running = next.catch(() => undefined);
    return next;
  }

  private async reportLocal(): Promise<void> {
    const reports = this.seen.map((n) => nodeReport(this.o.config, this.o.host, this.caps, n));
    // Also while a node gone from the driver is still served: the conductor drops it once its instances are gone.
    const changed = reports.length !== this.accepted.size || reports.some((r) => this.accepted.get(r.uuid) !== JSON.stringify(r))
      || [...this.served.keys()].some((name) => !this.seen.some((n) => n.name === name));
    if (changed) {
      await this.o.conductor.computeNodesUpdate(systemContext(), this.o.host, reports);
      this.accepted.clear();
      for (const r of reports) this.accepted.set(r.uuid, JSON.stringify(r));
    }
    // A node gone from the driver stays served while this runs: instances left on it must still
    // be deletable (the conductor keeps such a node, unavailable, until they are gone).
    for (const n of this.seen) this.served.set(n.name, { name: n.name, uuid: n.uuid, generation: null });
  }

  private async syncCluster(cluster: string): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      const reports = this.seen.map((n) => nodeReport(this.o.config, this.o.host, this.caps, n));
      const held = [...this.served.values()].map((s) => ({ nodeUuid: s.uuid, generation: s.generation! }));
      // Reports only of what the conductor has not had yet: nodes new to it, and nodes owned here
      // whose inventory changed or that are newly owned (their owner writes their inventory).
      const owns = (uuid: string) => [...this.served.values()].some((s) => s.uuid === uuid);
      const fresh = reports.filter((r) => !this.told.has(r.uuid) || (owns(r.uuid) && this.accepted.get(r.uuid) !== JSON.stringify(r)));
      let answer;
      try {
        answer = await this.o.conductor.clusterSync(systemContext(), { host: this.o.host, cluster, seen: reports.map((r) => r.uuid), nodes: fresh, held });
      } catch (err) {
        if (!isStaleOwnership(err) || attempt > 2) throw err;
        this.dropStale(staleNodesOf(err), 'cluster sync');
        continue;
      }
      const before = new Set(this.served.keys());
      this.told = new Set(reports.map((r) => r.uuid));
      this.served.clear();
      for (const o of answer.owned) this.served.set(o.node, { name: o.node, uuid: o.uuid, generation: o.generation });
      // The conductor wrote the reports of the nodes the caller owned before this sync; one newly
      // owned is reported on the next (its inventory may have changed while another owned it).
      for (const r of fresh) if (before.has(r.node) && owns(r.uuid)) this.accepted.set(r.uuid, JSON.stringify(r));
      for (const uuid of [...this.accepted.keys()]) if (!owns(uuid)) this.accepted.delete(uuid);
      const added = [...this.served.keys()].filter((n) => !before.has(n));
      const lost = [...before].filter((n) => !this.served.has(n));
      if (added.length > 0 || lost.length > 0) {
        this.o.log.info({ cluster, added: added.length, lost: lost.length, owned: this.served.size, members: answer.members }, 'shared node ownership changed');
      }
      return;
    }
  }

  /** The conductor refused claims on these nodes: they are no longer this host's. */
  private dropStale(nodeUuidsOrNames: string[], where: string): void {
    const names = [...this.served.values()].filter((s) => nodeUuidsOrNames.includes(s.uuid) || nodeUuidsOrNames.includes(s.name)).map((s) => s.name);
    this.o.log.warn({ nodes: names, where }, 'node ownership refused by the conductor: dropping the nodes');
    for (const name of names) {
      this.served.delete(name);
      const sub = this.subs.get(name);
      this.subs.delete(name);
      // Not awaited: closing waits for running handlers, and the caller may be one of them.
      void sub?.close().catch(() => undefined);
    }
  }

  private async resubscribe(): Promise<void> {
    if (!this.handler) return;
    for (const [name, sub] of [...this.subs]) {
      if (this.served.has(name)) continue;
      this.subs.delete(name);
      await sub.close().catch(() => undefined);
    }
    for (const name of this.served.keys()) {
      if (this.subs.has(name)) continue;
      this.subs.set(name, await this.o.bus.serve(computeTopic(name), this.nodeHandler(name, this.handler)));
    }
  }

  /**
   * The handler of one node's topic. For a shared node its writes carry the claim (node-claims.ts);
   * refused, the node is dropped and the message goes back to the broker (503 is what the bus
   * delivers again), where the node's new owner takes it — nothing was done to its instance yet,
   * as every operation's first write is a guarded one.
   */
  private nodeHandler(name: string, handler: RpcHandler): RpcHandler {
    if (!this.cluster) return handler;
    return async (msg) => {
      try {
        return await servingNode(name, () => handler(msg));
      } catch (err) {
        if (!isStaleOwnership(err)) throw err;
        this.dropStale([name], msg.method);
        throw new ServiceUnavailable(`node ${name} moved to another compute service; ${msg.method} is to be delivered to its new owner`);
      }
    };
  }
}

/** A node as the conductor records it: the driver's inventory with the operator's ratios, plus capability traits. */
export function nodeReport(config: Config, host: string, caps: Capabilities, n: NodeInfo): ComputeNodeReport {
  const ratio: Record<string, number> = {
    VCPU: config.num('DEFAULT', 'cpu_allocation_ratio'),
    MEMORY_MB: config.num('DEFAULT', 'ram_allocation_ratio'),
    DISK_GB: config.num('DEFAULT', 'disk_allocation_ratio'),
  };
  const reserved: Record<string, number> = {
    MEMORY_MB: config.num('DEFAULT', 'reserved_host_memory_mb'),
    DISK_GB: Math.ceil(config.num('DEFAULT', 'reserved_host_disk_mb') / 1024),
  };
  const inventory: ComputeNodeReport['inventory'] = {};
  for (const [rc, inv] of Object.entries(n.inventory)) {
    if (!inv) continue;
    inventory[rc] = {
      total: inv.total, reserved: Math.max(inv.reserved, reserved[rc] ?? 0), minUnit: inv.minUnit,
      maxUnit: inv.maxUnit, stepSize: inv.stepSize, allocationRatio: inv.allocationRatio ?? ratio[rc] ?? 1,
    };
  }
  return {
    uuid: n.uuid, host, node: n.name, hypervisorType: n.hypervisorType,
    hypervisorVersion: n.hypervisorVersion, hostIp: n.hostIp, cpuInfo: n.cpuInfo, inventory,
    traits: [...new Set([...n.traits, ...capabilityTraits(caps)])],
    ...(n.startedAt !== undefined ? { startedAt: n.startedAt } : {}),
  };
}
