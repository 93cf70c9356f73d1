/**
 * The fake driver: a hypervisor that exists only as rows in its own SQLite database
 * (backend.ts). It manages any number of nodes per compute host, keeps its guests across
 * compute restarts, moves them between hosts (moves.ts, contract 1.2), holds their NICs (vifs.ts,
 * contract 1.3), serves their consoles on loopback (consoles.ts, contract 1.4), and can be slowed down
 * or broken at runtime through the faults table.
 */
import { mkdirSync } from 'node:fs';
import {
  abortError, BackendUnavailable, CapacityExceeded, ImageError, METHOD_CAPABILITY, InstanceExists, InstanceNotFound, InvalidState,
  imageTypeOf, isDriverError, NodeEventHub, NodeNotFound, NotSupported, PowerState, transitionFor, supportsImageFormat,
  type BooleanCapability, type CallOptions, type Capabilities, type DriverContext, type DriverMethod, type DriverStatus,
  type DriverVersionInfo, type EventListener, type FinishMigrationRequest, type FlavorSpec, type InstanceInfo, type InstanceRef,
  type ConsoleEndpoint, type ConsoleKind, type InstanceSpec, type LiveMigrationRequest, type LiveMigrationTarget, type MigrateDiskRequest, type MoveRef, type NodeEventListener,
  type NodeInfo, type PreLiveMigrationRequest, type RebootType, type RebuildRequest, type SnapshotRequest, type VifInfo, type VirtDriver,
} from '@orrery/virt-api';
import { FakeBackend, fakeBackendPath, type FakeInstance, type Fault } from './backend.js';
import { clusterNodes, clusterStatePath, seedCluster } from './cluster.js';
import { parseConfig, type FakeConfig } from './config.js';
import { strike } from './faults.js';
import { FakeMoves } from './moves.js';
import { consoleText, localNodes, roomProblem } from './nodes.js';
import { sleep } from './sleep.js';
import { FakeVifs } from './vifs.js';
import { FakeConsoles } from './consoles.js';

const STATE_NAMES = Object.fromEntries(Object.entries(PowerState).map(([k, v]) => [v, k])) as Record<number, string>;
const messageOf = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const info = (r: FakeInstance): InstanceInfo => ({ uuid: r.uuid, node: r.node, powerState: r.powerState });

export class FakeDriver implements VirtDriver {
  #ctx: DriverContext | null = null;
  #cfg: FakeConfig | null = null;
  #backend: FakeBackend | null = null;
  /** Configured node name → its stable UUID. */
  #nodeUuids = new Map<string, string>();
  #listeners = new Set<EventListener>();
  readonly #nodeEvents = new NodeEventHub((err) => this.#ctx?.log.warn('node event listener failed', { err: String(err) }));
  /** Last power state this driver saw per guest: to turn out-of-band changes into events. */
  #known = new Map<string, PowerState>();
  #dataVersion = 0;
  #startedAt = Date.now();
  #watch: NodeJS.Timeout | null = null;
  /** Cancels calls hung by a 'hang' fault, at shutdown. */
  #hung = new Set<() => void>();
  /** The move calls (contract 1.2), over this driver's back-end, faults and events. */
  readonly #moves = new FakeMoves({
    hostName: () => this.#ctx?.host ?? '?', config: () => this.#cfg!, capabilities: () => this.capabilities(),
    backend: () => this.#b(), images: () => this.#ctx!.images,
    begin: (method, node, uuid, signal) => this.#begin(method, node, uuid, signal),
    strike: (fault, method, signal) => strike(fault, method, this.#hung, signal),
    checkRoom: (node, flavor) => (this.#checkNode(node), this.#checkRoom(node, flavor)),
    changed: (uuid, node, prev, next) => this.#changed(uuid, node, prev, next),
    known: (uuid, state) => void (state === null ? this.#known.delete(uuid) : this.#known.set(uuid, state)),
  });
  /** The guests' console endpoints (contract 1.4). */
  readonly #consoles = new FakeConsoles();
  /** The VIF calls (contract 1.3). */
  readonly #vifs = new FakeVifs({
    backend: () => this.#b(), op: (method, ref, fn) => this.#op(method, ref, fn), requireAttach: () => this.#require('interfaceAttach'),
  });

  // identity and version handshake

  version(): DriverVersionInfo {
    return { name: 'fake', driverVersion: '1.4.0', contract: { min: '1.0', max: '1.4' }, groups: ['nodeLookup'] };
  }

  capabilities(): Capabilities {
    const off = this.#cfg?.unsupported ?? new Set<BooleanCapability>();
    return {
      pause: !off.has('pause'),
      suspend: !off.has('suspend'),
      reboot: !off.has('reboot'),
      powerControl: !off.has('powerControl'),
      rebuild: !off.has('rebuild'),
      snapshot: !off.has('snapshot'),
      consoleOutput: !off.has('consoleOutput'),
      multiNode: !off.has('multiNode'),
      coldMigration: !off.has('coldMigration'),
      liveMigration: !off.has('liveMigration'),
      interfaceAttach: !off.has('interfaceAttach'),
      remoteConsole: !off.has('remoteConsole'),
      consoleKinds: ['vnc', 'serial'],
      imageFormats: [...(this.#cfg?.imageFormats ?? ['raw', 'qcow2'])],
      hypervisorType: 'fake',
      ...(this.#cfg?.cluster ? { sharedNodes: { cluster: this.#cfg.cluster } } : {}),
    };
  }

  async init(ctx: DriverContext): Promise<void> {
    if (this.#backend) throw new Error('fake driver: init() called twice');
    const cfg = parseConfig(ctx.host, ctx.config);
    mkdirSync(ctx.stateDir, { recursive: true });
    const backend = new FakeBackend(cfg.cluster ? clusterStatePath(ctx.stateDir, cfg) : fakeBackendPath(ctx.stateDir, ctx.host));
    try {
      const fault = backend.takeFault('init', null, null);
      if (fault) await strike(fault, 'init', this.#hung);
      if (cfg.cluster) {
        seedCluster(backend, cfg);
      } else {
        const all = backend.ensureNodes(cfg.nodeNames);
        this.#nodeUuids = new Map(cfg.nodeNames.map((n) => [n, all.get(n)!]));
      }
      for (const r of backend.listInstances()) this.#known.set(r.uuid, r.powerState);
      this.#dataVersion = backend.dataVersion();
      this.#cfg = cfg;
      this.#backend = backend;
      this.#nodeEvents.reset(this.#nodes());
    } catch (err) {
      this.#cfg = null;
      this.#backend = null;
      backend.close();
      throw err;
    }
    this.#ctx = ctx;
    // The fake's "host" is the driver itself: its uptime counts from here.
    this.#startedAt = Date.now();
    if (cfg.watchIntervalMs > 0) {
      this.#watch = setInterval(() => this.#watchOutOfBand(), cfg.watchIntervalMs);
      this.#watch.unref();
    }
    ctx.log.info('fake driver ready', { nodes: cfg.nodeNames.length, instances: this.#known.size });
  }

  async shutdown(): Promise<void> {
    if (this.#watch) clearInterval(this.#watch);
    this.#watch = null;
    this.#consoles.closeAll();
    const hung = [...this.#hung];
    for (const cancel of hung) cancel();
    // Let the cancelled calls clean up (a hung spawn deletes its half-built guest) before closing.
    if (hung.length > 0) await new Promise((r) => setImmediate(r));
    this.#backend?.close();
    this.#backend = null;
  }

  // nodes

  async listNodes(): Promise<NodeInfo[]> {
    await this.#enter('listNodes', null, null);
    const nodes = this.#nodes();
    this.#nodeEvents.seen(nodes);
    return nodes;
  }

  #nodes(): NodeInfo[] {
    const cfg = this.#cfg!;
    return cfg.cluster ? clusterNodes(this.#b(), cfg) : localNodes(this.#b(), cfg, this.#startedAt);
  }

  /** Group nodeLookup: one node, from the back-end. */
  async getNode(name: string): Promise<NodeInfo> {
    await this.#enter('getNode', name, null);
    const node = this.#nodes().find((n) => n.name === name);
    if (!node) throw new NodeNotFound(`fake back-end has no node ${name}`);
    return node;
  }

  /** Probes the back-end database; an armed fault (setDown, or one on 'status') makes it unreachable. */
  async status(): Promise<DriverStatus> {
    const t0 = performance.now();
    try {
      const b = this.#b();
      if (this.#cfg!.latencyMs > 0) await sleep(this.#cfg!.latencyMs);
      const fault = b.takeStatusFault();
      if (fault) await strike(fault, 'status', this.#hung);
      const nodes = this.#b().listNodes().length;
      return { reachable: true, latencyMs: Math.round((performance.now() - t0) * 100) / 100, message: `fake back-end with ${nodes} nodes` };
    } catch (err) {
      return { reachable: false, latencyMs: null, message: `fake back-end: ${messageOf(err)}` };
    }
  }

  // state and info

  listInstances(): Promise<InstanceInfo[]> {
    return this.#op('listInstances', null, (b) => b.listInstances().map(info));
  }

  getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    return this.#op('getInstance', ref, (b) => info(this.#row(b, ref.uuid)));
  }

  // lifecycle

  async spawn(spec: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo> {
    const cfg = this.#cfg;
    const signal = opts?.signal;
    if (!cfg) throw new BackendUnavailable('fake driver is not initialised (or was shut down)');
    if (signal?.aborted) throw abortError(signal);
    this.#checkNode(spec.node);
    this.#record('spawn', spec.node, spec.uuid);
    if (!supportsImageFormat(this.capabilities(), imageTypeOf(spec.image))) {
      throw new NotSupported(`fake driver cannot boot ${imageTypeOf(spec.image)} images`);
    }
    const f = spec.flavor;
    const disk = f.rootGb + f.ephemeralGb;
    this.#checkRoom(spec.node, f);
    const exists = () => new InstanceExists(`instance ${spec.uuid} already exists`);
    this.#b().recordSpawn(spec.uuid, spec.node);
    if (this.#b().getInstance(spec.uuid)) throw exists();
    if (cfg.latencyMs > 0) await sleep(cfg.latencyMs, signal);
    const b = this.#b();
    const fault = b.takeFault('spawn', spec.node, spec.uuid);
    // A fault strikes mid-build, after the guest exists, so a failure must clean it up.
    // Without one the guest is written once, already RUNNING: one write per spawn.
    const building = fault !== undefined && fault.kind !== 'lose';
    const now = Date.now();
    const row: FakeInstance = {
      uuid: spec.uuid, node: spec.node, name: spec.name, powerState: building ? PowerState.NOSTATE : PowerState.RUNNING,
      vcpus: f.vcpus, memoryMb: f.memoryMb, diskGb: disk, rootGb: f.rootGb, imageId: spec.image.id, projectId: spec.projectId,
      createdAt: now, updatedAt: now,
    };
    if (!b.insertInstance(row)) throw exists();
    if (building) {
      try {
        await strike(fault, 'spawn', this.#hung, signal);
      } catch (err) {
        this.#backend?.deleteInstance(spec.uuid);
        throw err;
      }
      this.#b().setPowerState(spec.uuid, PowerState.RUNNING);
    }
    this.#vifs.arrived(this.#b(), spec.uuid, spec.network.ports);
    this.#changed(spec.uuid, spec.node, null, PowerState.RUNNING);
    if (fault?.kind === 'lose') this.#lose(spec.uuid);
    return { uuid: spec.uuid, node: spec.node, powerState: PowerState.RUNNING };
  }

  destroy(ref: InstanceRef, opts?: CallOptions): Promise<void> {
    return this.#op('destroy', ref, () => this.#lose(ref.uuid), opts?.signal);
  }

  reboot(ref: InstanceRef, type: RebootType): Promise<void> {
    const from = type === 'soft' ? [PowerState.RUNNING] : 'any';
    return this.#transition('reboot', ref, from, PowerState.RUNNING);
  }

  powerOff(ref: InstanceRef, _timeoutSec: number): Promise<void> {
    return this.#transition('powerOff', ref, 'any', PowerState.SHUTDOWN);
  }

  powerOn(ref: InstanceRef): Promise<void> {
    return this.#transition('powerOn', ref, [PowerState.SHUTDOWN, PowerState.CRASHED, PowerState.NOSTATE, PowerState.RUNNING], PowerState.RUNNING);
  }

  pause(ref: InstanceRef): Promise<void> {
    return this.#transition('pause', ref, [PowerState.RUNNING], PowerState.PAUSED);
  }

  unpause(ref: InstanceRef): Promise<void> {
    return this.#transition('unpause', ref, [PowerState.PAUSED], PowerState.RUNNING);
  }

  suspend(ref: InstanceRef): Promise<void> {
    return this.#transition('suspend', ref, [PowerState.RUNNING, PowerState.PAUSED], PowerState.SUSPENDED);
  }

  resume(ref: InstanceRef): Promise<void> {
    return this.#transition('resume', ref, [PowerState.SUSPENDED], PowerState.RUNNING);
  }

  async rebuild(req: RebuildRequest): Promise<InstanceInfo> {
    this.#require('rebuild');
    const ref = req.instance;
    if (!supportsImageFormat(this.capabilities(), imageTypeOf(req.image))) {
      throw new NotSupported(`fake driver cannot boot ${imageTypeOf(req.image)} images`);
    }
    return this.#op('rebuild', ref, (b) => {
      const row = this.#row(b, ref.uuid);
      b.setImage(ref.uuid, req.image.id, PowerState.RUNNING);
      this.#changed(row.uuid, row.node, row.powerState, PowerState.RUNNING);
      return { uuid: row.uuid, node: row.node, powerState: PowerState.RUNNING };
    });
  }

  // console and snapshot

  async getConsoleOutput(ref: InstanceRef): Promise<string> {
    this.#require('consoleOutput');
    return consoleText(await this.#op('getConsoleOutput', ref, (b) => this.#row(b, ref.uuid)));
  }

  async snapshot(req: SnapshotRequest, opts?: CallOptions): Promise<void> {
    this.#require('snapshot');
    const r = await this.#op('snapshot', req.instance, (b) => this.#row(b, req.instance.uuid), opts?.signal);
    if (opts?.signal?.aborted) throw abortError(opts.signal);
    const header = `ORRERY FAKE SNAPSHOT\ninstance=${r.uuid}\nimage=${r.imageId}\nformat=${req.diskFormat}\n`;
    const bytes = new Uint8Array(512);
    bytes.set(new TextEncoder().encode(header).subarray(0, 512));
    try {
      await this.#ctx!.images.upload(req.imageId, bytes);
    } catch (err) {
      if (isDriverError(err, 'ImageNotFound') || isDriverError(err, 'ImageServiceUnavailable')) throw err;
      throw new ImageError(`upload of snapshot ${req.imageId} failed: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
    }
  }

  // remote consoles (contract 1.4; consoles.ts)

  async getConsole(ref: InstanceRef, kind: ConsoleKind): Promise<ConsoleEndpoint> {
    this.#require('remoteConsole');
    const r = await this.#op('getConsole', ref, (b) => this.#row(b, ref.uuid));
    if (r.powerState !== PowerState.RUNNING) throw new InvalidState(`instance ${r.uuid} is ${STATE_NAMES[r.powerState]}: its console is not up`);
    return this.#consoles.endpoint(r.uuid, r.name, kind);
  }

  // moves (contract 1.2; moves.ts)

  migrateDiskAndPowerOff(req: MigrateDiskRequest, opts?: CallOptions): Promise<void> { return this.#moves.migrateDiskAndPowerOff(req, opts); }
  async finishMigration(req: FinishMigrationRequest, opts?: CallOptions): Promise<InstanceInfo> {
    const out = await this.#moves.finishMigration(req, opts);
    this.#vifs.arrived(this.#b(), req.instance.uuid, req.instance.network.ports);
    return out;
  }
  async confirmMigration(move: MoveRef): Promise<void> { await this.#moves.confirmMigration(move); this.#settled(move); }
  async revertMigration(move: MoveRef): Promise<void> { await this.#moves.revertMigration(move); this.#settled(move); }
  finishRevertMigration(move: MoveRef, powerOn: boolean): Promise<InstanceInfo> { return this.#moves.finishRevertMigration(move, powerOn); }
  async preLiveMigration(req: PreLiveMigrationRequest, opts?: CallOptions): Promise<LiveMigrationTarget> {
    const out = await this.#moves.preLiveMigration(req, opts);
    // The NICs wait here for the guest (its row arrives with the migration).
    this.#b().vifs.setNics(req.instance.uuid, req.instance.network.ports);
    return out;
  }
  liveMigration(req: LiveMigrationRequest, opts?: CallOptions): Promise<void> { return this.#moves.liveMigration(req, opts); }
  liveMigrationForceComplete(move: MoveRef): Promise<void> { return this.#moves.liveMigrationForceComplete(move); }
  postLiveMigrationAtDestination(move: MoveRef): Promise<InstanceInfo> { return this.#moves.postLiveMigrationAtDestination(move); }
  async postLiveMigrationAtSource(move: MoveRef): Promise<void> { await this.#moves.postLiveMigrationAtSource(move); this.#settled(move); }
  async rollbackLiveMigrationAtDestination(move: MoveRef): Promise<void> {
    await this.#moves.rollbackLiveMigrationAtDestination(move);
    this.#settled(move);
  }

  #settled(move: MoveRef): void {
    this.#vifs.settled(this.#b(), move.instance.uuid);
  }

  // VIFs (contract 1.3; vifs.ts)

  plugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> { return this.#vifs.plugVifs(ref, ports); }
  unplugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> { return this.#vifs.unplugVifs(ref, ports); }
  attachInterface(ref: InstanceRef, port: VifInfo): Promise<void> { return this.#vifs.attachInterface(ref, port); }
  detachInterface(ref: InstanceRef, port: VifInfo): Promise<void> { return this.#vifs.detachInterface(ref, port); }

  // events

  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => void this.#listeners.delete(listener);
  }

  onNodeEvent(listener: NodeEventListener): () => void {
    return this.#nodeEvents.add(listener);
  }

  // internals

  #b(): FakeBackend {
    if (!this.#backend) throw new BackendUnavailable('fake driver is not initialised (or was shut down)');
    return this.#backend;
  }

  #row(b: FakeBackend, uuid: string): FakeInstance {
    const r = b.getInstance(uuid);
    if (!r) throw new InstanceNotFound(`instance ${uuid} not found on the fake back-end`);
    return r;
  }

  #require(cap: BooleanCapability): void {
    if (this.#cfg?.unsupported.has(cap)) throw new NotSupported(`fake driver is configured without ${cap}`);
  }

  /** The start of every back-end call: latency, then any armed fault (returned if the call goes on). */
  async #enter(method: DriverMethod, node: string | null, uuid: string | null, signal?: AbortSignal): Promise<Fault | undefined> {
    const fault = await this.#begin(method, node, uuid, signal);
    if (fault) await strike(fault, method, this.#hung, signal);
    return fault;
  }

  /** #enter without striking the fault it takes (a move strikes it mid-way). */
  async #begin(method: DriverMethod, node: string | null, uuid: string | null, signal?: AbortSignal): Promise<Fault | undefined> {
    this.#b();
    if (signal?.aborted) throw abortError(signal);
    if (uuid !== null) this.#record(method, node, uuid);
    const latency = this.#cfg!.latencyMs;
    if (latency > 0) await sleep(latency, signal);
    return this.#b().takeFault(method, node, uuid);
  }

  /** NodeNotFound unless the driver manages `node` and the back-end still has it. */
  #checkNode(node: string): void {
    if (!this.#cfg!.cluster && !this.#nodeUuids.has(node)) throw new NodeNotFound(`fake driver does not manage node ${node}`);
    if (!this.#b().hasNode(node)) throw new NodeNotFound(`node ${node} is gone from the fake back-end`);
  }

  /** CapacityExceeded when `f` is larger than the node (a spawn's or a move's destination). */
  #checkRoom(node: string, f: FlavorSpec): void {
    const problem = roomProblem(this.#cfg!, this.#b(), node, f);
    if (problem) throw new CapacityExceeded(problem);
  }

  /** One back-end call about `ref` (or none): enter, run `fn`, honour a 'lose' fault. */
  async #op<T>(method: DriverMethod, ref: InstanceRef | null, fn: (b: FakeBackend) => T, signal?: AbortSignal): Promise<T> {
    const fault = await this.#enter(method, ref?.node ?? null, ref?.uuid ?? null, signal);
    const out = fn(this.#b());
    if (fault?.kind === 'lose' && ref) this.#lose(ref.uuid);
    return out;
  }

  /** A power-state change on one instance, following the contract's state rules. */
  async #transition(method: DriverMethod, ref: InstanceRef, from: PowerState[] | 'any', to: PowerState): Promise<void> {
    const cap = METHOD_CAPABILITY[method];
    if (cap) this.#require(cap);
    return this.#op(method, ref, (b) => {
      const r = this.#row(b, ref.uuid);
      if (from !== 'any' && !from.includes(r.powerState)) {
        throw new InvalidState(`cannot ${method} instance ${r.uuid} in power state ${STATE_NAMES[r.powerState]}`);
      }
      if (r.powerState !== to) b.setPowerState(r.uuid, to);
      this.#changed(r.uuid, r.node, r.powerState, to);
    });
  }

  #changed(uuid: string, node: string, prev: PowerState | null, next: PowerState): void {
    this.#known.set(uuid, next);
    if (next !== PowerState.RUNNING) this.#consoles.close(uuid);
    const transition = transitionFor(prev, next);
    if (!transition) return;
    const event = { uuid, node, transition, powerState: next, at: Date.now() };
    for (const l of this.#listeners) {
      try {
        l(event);
      } catch (err) {
        this.#ctx?.log.warn('lifecycle listener failed', { err: String(err) });
      }
    }
  }

  /** Cluster mode: appends a call about an instance to the shared call record. */
  #record(method: DriverMethod, node: string | null, uuid: string | null): void {
    if (this.#cfg?.cluster) this.#b().recordCall(this.#ctx?.host ?? '?', method, node, uuid);
  }

  #lose(uuid: string): void {
    this.#consoles.close(uuid);
    this.#backend?.deleteInstance(uuid);
    this.#backend?.vifs.dropNics(uuid);
    this.#known.delete(uuid);
  }

  /** Emits events for power-state changes made to the database behind the driver's back. */
  #watchOutOfBand(): void {
    const b = this.#backend;
    if (!b) return;
    const v = b.dataVersion();
    if (v === this.#dataVersion) return; // nothing changed outside this connection: O(1)
    this.#dataVersion = v;
    const seen = new Set<string>();
    for (const r of b.listInstances()) {
      seen.add(r.uuid);
      const prev = this.#known.get(r.uuid);
      if (prev === undefined) this.#known.set(r.uuid, r.powerState);
      else if (prev !== r.powerState) this.#changed(r.uuid, r.node, prev, r.powerState);
    }
    for (const uuid of this.#known.keys()) if (!seen.has(uuid)) this.#known.delete(uuid);
    // Nodes taken off (or changed in) the back-end behind the driver's back.
    this.#nodeEvents.seen(this.#nodes());
  }
}
