/**
 * The Docker driver: each server a container named `orrery-<host>-<instance uuid>` on the
 * daemon at `[docker] socket`, found again by its labels (container-spec.ts) after a restart.
 * Spawn is Docker's create + start with `Init: true` (tini as PID 1, so a stop's SIGTERM
 * reaches the image's process) and the flavor as cgroup limits; the image comes from the image
 * service as a `docker save` tarball (image-store.ts). Lifecycle events come from Docker's event
 * stream (events.ts), never from polling. The parts: lifecycle.ts (spawn, rebuild, power),
 * console.ts (log, snapshot), vifs.ts (contract 1.3's veths on the network's bridges).
 */
import { join } from 'node:path';
import {
  BackendUnavailable, isDriverError, NodeEventHub, NodeNotFound, type CallOptions, type Capabilities, type DriverContext, type DriverStatus,
  type DriverVersionInfo, type EventListener, type InstanceInfo, type InstanceRef, type InstanceSpec, type NodeEventListener,
  type NodeInfo, type RebootType, type RebuildRequest, type SnapshotRequest, type VifCalls, type VifInfo, type VirtDriver,
} from '@orrery/virt-api';
import { parseConfig } from './config.js';
import { consoleOutput, snapshot } from './console.js';
import { LABEL } from './container-spec.js';
import { connect, engineError, messageOf } from './engine.js';
import { EventStream } from './events.js';
import { DockerHost, powerStateOf } from './host.js';
import { ImageStore } from './image-store.js';
import * as life from './lifecycle.js';
import { describeNode, diskGbOf, inventory, type DaemonInfo } from './node.js';
import { DockerVifs } from './vifs.js';

/** The image types the driver boots: container images (container_format docker). */
export const IMAGE_FORMATS = ['docker'] as const;

export class DockerDriver implements VirtDriver, Required<Pick<VifCalls, 'plugVifs' | 'unplugVifs'>> {
  readonly #h = new DockerHost();
  readonly #vifs = new DockerVifs(this.#h);
  #events: EventStream | null = null;
  readonly #nodeEvents = new NodeEventHub((err) => this.#h.ctx?.log.warn('node event listener failed', { err: messageOf(err) }));

  // identity and version handshake

  version(): DriverVersionInfo {
    return { name: 'docker', driverVersion: '1.0.0', contract: { min: '1.3', max: '1.3' }, groups: ['nodeLookup'] };
  }

  capabilities(): Capabilities {
    return {
      pause: true,
      // Docker checkpoints need CRIU, which Debian's docker.io does not ship.
      suspend: false,
      reboot: true,
      powerControl: true,
      rebuild: true,
      snapshot: true,
      consoleOutput: true,
      multiNode: false,
      imageFormats: [...IMAGE_FORMATS],
      hypervisorType: 'docker',
      coldMigration: false,
      liveMigration: false,
      interfaceAttach: false,
    };
  }

  async init(ctx: DriverContext): Promise<void> {
    const h = this.#h;
    if (h.ctx) throw new Error('docker driver: init() called twice');
    const cfg = parseConfig(ctx.config);
    const engine = connect(cfg.socket, cfg.apiTimeoutMs);
    let info: DaemonInfo;
    try {
      info = (await engine.info()) as DaemonInfo;
    } catch (err) {
      const e = engineError(err, `the Docker daemon at ${cfg.socket}`);
      throw e instanceof BackendUnavailable ? e : new BackendUnavailable(`the Docker daemon at ${cfg.socket}: ${messageOf(err)}`, { cause: err });
    }
    h.ctx = ctx;
    h.cfg = cfg;
    h.engine = engine;
    h.setHost(ctx.host);
    h.images = new ImageStore(engine, ctx.images, join(ctx.stateDir, 'image-downloads'), ctx.log, ctx.host, cfg.removeUnusedImages);
    await h.images.init();
    h.node = await describeNode(ctx, cfg, info);
    this.#nodeEvents.reset([h.node]);
    this.#events = new EventStream({
      engine, host: ctx.host, log: ctx.log,
      onEvent: (uuid, next, action) => {
        if (next === 'gone') h.known.delete(uuid);
        else if (!h.frozenByCommit.has(uuid)) h.transition(uuid, next);
        if (action === 'start') {
          // After whatever call holds the instance: a start the driver made is wired already.
          h.locked(uuid, () => this.#vifs.ensureWired({ uuid, node: h.nodeName })).catch((err: unknown) => {
            if (!isDriverError(err, 'InstanceNotFound')) ctx.log.warn('docker: cannot wire a started container', { instance: uuid, err: messageOf(err) });
          });
        }
      },
      onReopen: () => {
        this.#resync().catch((err: unknown) => ctx.log.warn('docker: resync after the event stream reopened failed', { err: messageOf(err) }));
      },
    });
    try {
      await this.#events.start();
    } catch (err) {
      await this.#events.stop();
      throw new BackendUnavailable(`docker event stream: ${messageOf(err)}`, { cause: err });
    }
    // Listed once the stream is subscribed, so no change falls between the two.
    for (const i of await this.listInstances()) if (!h.known.has(i.uuid)) h.known.set(i.uuid, i.powerState);
    if (!cfg.diskQuota) ctx.log.info('docker: the flavor\'s root disk size is not enforced ([docker] disk_quota = false)');
    ctx.log.info('docker driver ready', { socket: cfg.socket, daemon: info.ServerVersion, storage: info.Driver, instances: h.known.size });
  }

  async shutdown(): Promise<void> {
    this.#h.closed = true;
    const events = this.#events;
    this.#events = null;
    await events?.stop();
  }

  // nodes

  async listNodes(): Promise<NodeInfo[]> {
    const h = this.#h;
    const node = h.node;
    if (!node) throw new BackendUnavailable('docker driver is not initialised');
    let info: DaemonInfo;
    try {
      info = (await h.requireEngine().info()) as DaemonInfo;
    } catch (err) {
      throw engineError(err, 'docker info');
    }
    const nodes = [{ ...node, inventory: { ...node.inventory, DISK_GB: inventory(await diskGbOf(info)) } }];
    this.#nodeEvents.seen(nodes);
    return nodes;
  }

  async getNode(name: string): Promise<NodeInfo> {
    const node = (await this.listNodes()).find((n) => n.name === name);
    if (!node) throw new NodeNotFound(`node ${name} is not managed by this driver (it manages ${this.#h.nodeName})`);
    return node;
  }

  async status(): Promise<DriverStatus> {
    const t0 = performance.now();
    const socket = this.#h.cfg?.socket ?? '?';
    try {
      await this.#h.requireEngine().ping();
      return { reachable: true, latencyMs: Math.round(performance.now() - t0), message: `Docker daemon at ${socket} answers` };
    } catch (err) {
      return { reachable: false, latencyMs: null, message: `Docker daemon at ${socket}: ${messageOf(err)}` };
    }
  }

  // state and info

  async listInstances(): Promise<InstanceInfo[]> {
    const h = this.#h;
    let list;
    try {
      list = await h.requireEngine().listContainers({ all: true, filters: { label: [`${LABEL.host}=${h.ctx!.host}`] } });
    } catch (err) {
      throw engineError(err, 'list containers');
    }
    const out: InstanceInfo[] = [];
    for (const c of list) {
      const uuid = c.Labels?.[LABEL.instance];
      // Ours by name as well as by label: a label alone can be set by anyone.
      if (uuid && c.Names?.some((n) => n === `/${h.containerName(uuid)}`)) out.push({ uuid, node: h.nodeName, powerState: powerStateOf(c.State) });
    }
    return out;
  }

  async getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    return { uuid: ref.uuid, node: this.#h.nodeName, powerState: await this.#h.powerState(ref) };
  }

  // lifecycle (lifecycle.ts)

  spawn(spec: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo> { return life.spawn(this.#h, this.#vifs, spec, opts?.signal); }
  destroy(ref: InstanceRef, opts?: CallOptions): Promise<void> { return life.destroy(this.#h, ref, opts?.signal); }
  reboot(ref: InstanceRef, type: RebootType): Promise<void> { return life.reboot(this.#h, this.#vifs, ref, type); }
  powerOff(ref: InstanceRef, timeoutSec: number): Promise<void> { return life.powerOff(this.#h, ref, timeoutSec); }
  powerOn(ref: InstanceRef): Promise<void> { return life.powerOn(this.#h, this.#vifs, ref); }
  pause(ref: InstanceRef): Promise<void> { return life.pause(this.#h, ref); }
  unpause(ref: InstanceRef): Promise<void> { return life.unpause(this.#h, ref); }
  suspend(_ref: InstanceRef): Promise<void> { return life.notSupported('suspend'); }
  resume(_ref: InstanceRef): Promise<void> { return life.notSupported('resume'); }
  rebuild(req: RebuildRequest): Promise<InstanceInfo> { return life.rebuild(this.#h, this.#vifs, req); }

  // console and snapshot (console.ts)

  getConsoleOutput(ref: InstanceRef): Promise<string> { return consoleOutput(this.#h, ref); }
  snapshot(req: SnapshotRequest, opts?: CallOptions): Promise<void> { return snapshot(this.#h, req, opts?.signal); }

  // VIFs (contract 1.3; vifs.ts)

  plugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> { return this.#vifs.plugVifs(ref, ports); }
  unplugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> { return this.#vifs.unplugVifs(ref, ports); }

  // events

  onEvent(listener: EventListener): () => void {
    this.#h.listeners.add(listener);
    return () => void this.#h.listeners.delete(listener);
  }

  onNodeEvent(listener: NodeEventListener): () => void {
    return this.#nodeEvents.add(listener);
  }

  /** The container name of an instance on this host (tests reach Docker directly with it). */
  containerName(uuid: string): string {
    return this.#h.containerName(uuid);
  }

  /** Breaks the event stream's connection, as a daemon restart would (tests check the reopen and resync). */
  interruptEventStream(): void {
    this.#events?.interrupt();
  }

  /** The MACs of the container's NICs, eth0 first (tests look at them). */
  guestMacs(ref: InstanceRef): Promise<string[]> {
    return this.#vifs.macs(ref);
  }

  /** After the event stream was down: report what changed meanwhile. */
  async #resync(): Promise<void> {
    const h = this.#h;
    const seen = new Set<string>();
    for (const i of await this.listInstances()) {
      seen.add(i.uuid);
      h.transition(i.uuid, i.powerState);
    }
    for (const uuid of [...h.known.keys()]) if (!seen.has(uuid)) h.known.delete(uuid);
  }
}
