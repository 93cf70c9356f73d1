/** Helpers for the lifecycle and node events a driver emits. */
import { PowerState, type LifecycleTransition, type NodeEvent, type NodeEventListener, type NodeInfo } from './contract.js';

/**
 * The transition to report when an instance goes from `prev` to `next`, or null when the power
 * state did not change. Drivers emit exactly these, so the compute service can sync power
 * state from events instead of polling every instance.
 */
export function transitionFor(prev: PowerState | null, next: PowerState): LifecycleTransition | null {
  if (prev === next) return null;
  switch (next) {
    case PowerState.RUNNING:
      return prev === PowerState.PAUSED || prev === PowerState.SUSPENDED ? 'resumed' : 'started';
    case PowerState.PAUSED:
      return 'paused';
    case PowerState.SUSPENDED:
      return 'suspended';
    default:
      return 'stopped';
  }
}

const STATES = new Set<number>(Object.values(PowerState));

/** True when `v` is one of the PowerState numbers. */
export function isPowerState(v: unknown): v is PowerState {
  return typeof v === 'number' && STATES.has(v);
}

function sameInventory(a: NodeInfo['inventory'], b: NodeInfo['inventory']): boolean {
  const keys = new Set([...Object.keys(a), ...Object.keys(b)]);
  for (const k of keys) {
    const x = a[k as keyof typeof a];
    const y = b[k as keyof typeof b];
    if (!x || !y) {
      if (x !== y) return false;
      continue;
    }
    if (x.total !== y.total || x.reserved !== y.reserved || x.minUnit !== y.minUnit || x.maxUnit !== y.maxUnit
      || x.stepSize !== y.stepSize || x.allocationRatio !== y.allocationRatio) return false;
  }
  return true;
}

function sameTraits(a: readonly string[], b: readonly string[]): boolean {
  const x = new Set(a);
  return x.size === new Set(b).size && b.every((t) => x.has(t));
}

/**
 * The node events (@since 1.1) that take a driver's node list from `prev` to `next`, nodes
 * matched by name: removed first, then added, then changes (inventory before traits), so a
 * listener applying them in order never holds two nodes of one name. A driver that re-reads
 * its back-end emits exactly these.
 */
export function nodeChanges(prev: readonly NodeInfo[], next: readonly NodeInfo[], at: number = Date.now()): NodeEvent[] {
  const before = new Map(prev.map((n) => [n.name, n]));
  const after = new Map(next.map((n) => [n.name, n]));
  const events: NodeEvent[] = [];
  for (const n of prev) {
    const m = after.get(n.name);
    // A node whose uuid changed is another node under the same name.
    if (!m || m.uuid !== n.uuid) events.push({ kind: 'removed', node: n.name, uuid: n.uuid, at });
  }
  for (const n of next) {
    const o = before.get(n.name);
    if (!o || o.uuid !== n.uuid) events.push({ kind: 'added', node: n.name, uuid: n.uuid, at });
  }
  for (const n of next) {
    const o = before.get(n.name);
    if (!o || o.uuid !== n.uuid) continue;
    if (!sameInventory(o.inventory, n.inventory)) events.push({ kind: 'inventoryChanged', node: n.name, uuid: n.uuid, at });
    if (!sameTraits(o.traits, n.traits)) events.push({ kind: 'traitsChanged', node: n.name, uuid: n.uuid, at });
  }
  return events;
}

const NODE_EVENT_KINDS = new Set<string>(['added', 'removed', 'inventoryChanged', 'traitsChanged']);

/** True when `v` is a well-formed NodeEvent (what the guard passes on to listeners). */
export function isNodeEvent(v: unknown): v is NodeEvent {
  if (typeof v !== 'object' || v === null) return false;
  const e = v as Record<string, unknown>;
  return typeof e.kind === 'string' && NODE_EVENT_KINDS.has(e.kind) && typeof e.node === 'string' && e.node !== ''
    && typeof e.uuid === 'string' && typeof e.at === 'number';
}

/**
 * A driver's side of node events (@since 1.1): the nodes it last reported and the listeners
 * onNodeEvent registered. The driver calls seen() with every fresh node list (listNodes, a
 * watcher) and the listeners hear what changed.
 */
export class NodeEventHub {
  readonly #listeners = new Set<NodeEventListener>();
  #last: readonly NodeInfo[] = [];

  /** `onListenerError` is told when a listener throws (the others still hear the event). */
  constructor(private readonly onListenerError: (err: unknown) => void = () => {}) {}

  /** What onNodeEvent does: registers a listener, returns its removal. */
  add(listener: NodeEventListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  /** The nodes as of now, emitting nothing (at init). */
  reset(nodes: readonly NodeInfo[]): void {
    this.#last = nodes;
  }

  /** Emits the events that take the last reported nodes to `nodes`. */
  seen(nodes: readonly NodeInfo[]): void {
    const events = nodeChanges(this.#last, nodes);
    this.#last = nodes;
    for (const e of events) {
      for (const l of this.#listeners) {
        try {
          l(e);
        } catch (err) {
          this.onListenerError(err);
        }
      }
    }
  }
}
