/**
 * The driver's view of change: Ironic pushes nothing to its clients, so the driver reads its
 * nodes every poll_interval and reports what moved — node events through the hub, and a
 * lifecycle event for each instance whose power state changed (a machine powered off from its
 * BMC or by an operator shows SHUTDOWN in the compute).
 */
import { transitionFor, type LifecycleEvent, type PowerState } from '@orrery/virt-api';
import { instanceOf, type IronicNode } from './nodes.js';

export interface PollerOptions {
  read(): Promise<IronicNode[]>;
  intervalMs: number;
  onNodes(nodes: IronicNode[]): void;
  onLifecycle(e: LifecycleEvent): void;
  onError(err: unknown): void;
}

export class Poller {
  #timer: NodeJS.Timeout | null = null;
  #running = false;
  /** instance uuid → its last power state. */
  readonly #power = new Map<string, PowerState>();

  constructor(private readonly o: PollerOptions) {}

  start(): void {
    if (this.#running) return;
    this.#running = true;
    this.#schedule();
  }

  stop(): void {
    this.#running = false;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = null;
  }

  #schedule(): void {
    if (!this.#running) return;
    // One read at a time: the next is scheduled when this one ends, so a slow API never stacks reads.
    this.#timer = setTimeout(() => void this.tick().finally(() => this.#schedule()), this.o.intervalMs);
    this.#timer.unref();
  }

  /** The instances as of now, emitting nothing (at init). */
  seed(nodes: IronicNode[]): void {
    for (const n of nodes) {
      const inst = settled(n);
      if (inst) this.#power.set(inst.uuid, inst.powerState);
    }
  }

  /**
   * A node read by the driver or the poller: a lifecycle event when its instance's power state
   * differs from the last one reported (an instance seen for the first time counts from null,
   * so a finished deploy reports `started`). Returns the instance's uuid when it has a settled state.
   */
  observe(n: IronicNode): string | null {
    const inst = settled(n);
    if (!inst) return null;
    const prev = this.#power.get(inst.uuid) ?? null;
    this.#power.set(inst.uuid, inst.powerState);
    const transition = transitionFor(prev, inst.powerState);
    if (transition) this.o.onLifecycle({ uuid: inst.uuid, node: inst.node, transition, powerState: inst.powerState, at: Date.now() });
    return inst.uuid;
  }

  /** An instance the driver destroyed: its next appearance starts afresh. */
  forget(uuid: string): void {
    this.#power.delete(uuid);
  }

  /** One read and its events (exposed so a test can drive it without waiting). */
  async tick(): Promise<void> {
    let nodes: IronicNode[];
    try {
      nodes = await this.o.read();
    } catch (err) {
      this.o.onError(err);
      return;
    }
    if (!this.#running) return;
    this.o.onNodes(nodes);
    const seen = new Set<string>();
    for (const n of nodes) {
      const uuid = this.observe(n);
      if (uuid) seen.add(uuid);
      else if (n.instance_uuid) seen.add(n.instance_uuid);
    }
    for (const uuid of [...this.#power.keys()]) if (!seen.has(uuid)) this.#power.delete(uuid);
  }
}

/**
 * The node's instance once it has a state worth reporting: deployed, its power known (a node
 * whose BMC has not answered yet has none) and no power change under way.
 */
function settled(n: IronicNode) {
  if (n.provision_state !== 'active' || n.target_power_state || n.target_provision_state || !n.power_state) return null;
  return instanceOf(n);
}
