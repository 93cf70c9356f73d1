/**
 * What the driver's parts share: the Engine API client, the configuration, the node, the
 * containers' last known power states (to turn Docker's events into transitions) and the
 * per-instance lock that keeps two calls on one server from interleaving.
 */
import type Docker from 'dockerode';
import {
  BackendUnavailable, InstanceNotFound, PowerState, transitionFor, type DriverContext, type EventListener, type InstanceRef,
  type LifecycleEvent, type NodeInfo,
} from '@orrery/virt-api';
import type { DockerConfig } from './config.js';
import { containerPrefix } from './container-spec.js';
import { onContainer, type Engine } from './engine.js';
import type { ImageStore } from './image-store.js';

export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A container's power state from the Engine API's State (inspect's object or list's word). */
export function powerStateOf(state: { Status?: string; Paused?: boolean; Running?: boolean; Restarting?: boolean } | string): PowerState {
  const s = typeof state === 'string' ? state : state.Paused ? 'paused' : state.Restarting ? 'restarting' : state.Running ? 'running' : (state.Status ?? '');
  switch (s) {
    case 'running':
    case 'restarting':
      return PowerState.RUNNING;
    case 'paused':
      return PowerState.PAUSED;
    case 'dead':
      return PowerState.CRASHED;
    default:
      return PowerState.SHUTDOWN; // created, exited, removing
  }
}

export class DockerHost {
  ctx: DriverContext | null = null;
  cfg: DockerConfig | null = null;
  engine: Engine | null = null;
  images: ImageStore | null = null;
  node: NodeInfo | null = null;
  prefix = '';
  closed = false;
  /** Last power state reported per instance uuid. */
  readonly known = new Map<string, PowerState>();
  readonly listeners = new Set<EventListener>();
  /** Instances whose pause/unpause events are the driver's own doing (a commit's freeze), not a transition. */
  readonly frozenByCommit = new Set<string>();
  readonly #locks = new Map<string, Promise<unknown>>();

  get nodeName(): string {
    return this.node?.name ?? '';
  }

  requireEngine(): Engine {
    if (this.closed || !this.engine) throw new BackendUnavailable('docker driver is not running');
    return this.engine;
  }

  requireCfg(): DockerConfig {
    if (!this.cfg) throw new BackendUnavailable('docker driver is not initialised');
    return this.cfg;
  }

  containerName(uuid: string): string {
    return `${this.prefix}${uuid}`;
  }

  setHost(host: string): void {
    this.prefix = containerPrefix(host);
  }

  /** The container of `ref` (InstanceNotFound for an id that cannot be ours or another node). */
  container(ref: InstanceRef): Docker.Container {
    if (!UUID.test(ref.uuid) || (ref.node !== undefined && ref.node !== this.nodeName)) {
      throw new InstanceNotFound(`instance ${ref.uuid} does not exist on node ${this.nodeName}`);
    }
    return this.requireEngine().getContainer(this.containerName(ref.uuid));
  }

  async inspect(ref: InstanceRef): Promise<Docker.ContainerInspectInfo> {
    const c = this.container(ref);
    return onContainer(ref.uuid, `inspect instance ${ref.uuid}`, () => c.inspect());
  }

  async powerState(ref: InstanceRef): Promise<PowerState> {
    return powerStateOf((await this.inspect(ref)).State);
  }

  async exists(uuid: string): Promise<boolean> {
    try {
      await this.inspect({ uuid, node: this.nodeName });
      return true;
    } catch (err) {
      if (err instanceof InstanceNotFound) return false;
      throw err;
    }
  }

  /** Runs `fn` while no other call on `uuid` runs. */
  locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(uuid) ?? Promise.resolve();
    const run = prev.then(fn, fn);
    const tail = run.catch(() => undefined);
    this.#locks.set(uuid, tail);
    void tail.then(() => {
      if (this.#locks.get(uuid) === tail) this.#locks.delete(uuid);
    });
    return run;
  }

  /** Records the new power state and tells the listeners the transition, if there was one. */
  transition(uuid: string, next: PowerState): void {
    const prev = this.known.get(uuid) ?? null;
    this.known.set(uuid, next);
    const transition = transitionFor(prev, next);
    if (!transition) return;
    const event: LifecycleEvent = { uuid, node: this.nodeName, transition, powerState: next, at: Date.now() };
    for (const l of this.listeners) {
      try {
        l(event);
      } catch (err) {
        this.ctx?.log.warn('lifecycle listener failed', { err: err instanceof Error ? err.message : String(err) });
      }
    }
  }
}
