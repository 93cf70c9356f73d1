/**
 * The libvirt driver: one node per compute host, each instance a libvirt domain named
 * `orrery-<host>-<instance uuid>` (its libvirt UUID is the instance's), with its files in
 * `<instances_path>/<uuid>/`:
 *
 *   disk          qcow2 overlay on the cached image, grown to the flavor's root disk
 *   disk.eph0     the flavor's ephemeral disk (blank qcow2), if any
 *   disk.swap     the flavor's swap disk (raw, with a swap signature), if any
 *   console.log   everything the guest printed on its serial console (virtlogd writes it)
 *   libvirt.xml   the domain definition
 *   orrery.json   which host and images the instance uses (read by the cache manager)
 *
 * Lifecycle events come from libvirt's own event stream (event-stream.ts), never from polling.
 * The work is in the parts: build.ts (disks, images, definitions), power.ts, console.ts
 * (console log, snapshots), domain-events.ts, and the moves of contract 1.2 (cold-moves.ts,
 * live-moves.ts, their records in move-records.ts), the VIFs of contract 1.3 (vifs.ts: bridge
 * NICs, plug/unplug, interface attach/detach), the remote consoles of contract 1.4
 * (remote-consoles.ts: VNC and ttyS0 over TCP); host.ts holds what they share.
 */
import { mkdir, readdir, rm, stat, statfs } from 'node:fs/promises';
import { randomBytes } from 'node:crypto';
import { dirname, join } from 'node:path';
import {
  BackendUnavailable, InstanceExists, InvalidState, NodeEventHub, NodeNotFound, PowerState,
  type CallOptions, type Capabilities, type ConsoleEndpoint, type ConsoleKind, type DriverContext, type DriverStatus, type DriverVersionInfo, type EventListener,
  type FinishMigrationRequest, type InstanceInfo, type InstanceRef, type InstanceSpec, type LiveMigrationRequest,
  type LiveMigrationTarget, type MigrateDiskRequest, type MoveCalls, type MoveRef, type NodeEventListener, type NodeInfo,
  type PreLiveMigrationRequest, type RebootType, type RebuildRequest, type SnapshotRequest, type VifCalls, type VifInfo, type VirtDriver,
} from '@orrery/virt-api';
import { build, prepareImages, rootDiskSize, teardown } from './build.js';
import { ColdMoves } from './cold-moves.js';
import { parseConfig } from './config.js';
import { consoleOutput, snapshot } from './console.js';
import { describeNode, onDomainEvent, probe, resync } from './domain-events.js';
import { EventStream } from './event-stream.js';
import { classifyVirshError, rethrowVirsh } from './exec.js';
import { checkpoint, checkUuid, GiB, IMAGE_FORMATS, imageIds, inventory, LibvirtHost, messageOf, UUID } from './host.js';
import { ImageCache } from './image-cache.js';
import { LiveMoves } from './live-moves.js';
import { MoveRecords } from './move-records.js';
import { cleanShutdown, hardReboot, softReboot, transitionOp } from './power.js';
import { LibvirtVifs } from './vifs.js';
import { Virsh, type DomainStatus } from './virsh.js';
import { getConsole } from './remote-consoles.js';

export { IMAGE_FORMATS } from './host.js';
export { lifecyclePowerState } from './domain-events.js';

export class LibvirtDriver implements VirtDriver, Required<MoveCalls>, Required<VifCalls> {
  readonly #h = new LibvirtHost();
  readonly #vifs = new LibvirtVifs(this.#h);
  #events: EventStream | null = null;
  #cacheTimer: NodeJS.Timeout | null = null;
  #cold: ColdMoves | null = null;
  #liveMoves: LiveMoves | null = null;
  /** The node's inventory changes (its disk grows or shrinks) as node events. */
  readonly #nodeEvents = new NodeEventHub((err) => this.#h.ctx?.log.warn('node event listener failed', { err: messageOf(err) }));

  // identity and version handshake

  version(): DriverVersionInfo {
    return { name: 'libvirt', driverVersion: '1.4.0', contract: { min: '1.0', max: '1.4' }, groups: ['nodeLookup'] };
  }

  capabilities(): Capabilities {
    return {
      pause: true,
      suspend: true,
      reboot: true,
      powerControl: true,
      rebuild: true,
      snapshot: true,
      consoleOutput: true,
      multiNode: false,
      imageFormats: [...(this.#h.cfg?.imageFormats ?? IMAGE_FORMATS)],
      hypervisorType: 'QEMU',
      coldMigration: true,
      liveMigration: true,
      interfaceAttach: true,
      remoteConsole: true,
      consoleKinds: ['vnc', 'serial'],
    };
  }

  async init(ctx: DriverContext): Promise<void> {
    const h = this.#h;
    if (h.ctx) throw new Error('libvirt driver: init() called twice');
    const cfg = parseConfig(ctx.stateDir, ctx.config);
    const virsh = new Virsh(cfg.connectionUri);
    let hv;
    try {
      hv = await virsh.hypervisor();
    } catch (err) {
      throw classifyVirshError(err, '-') ?? new BackendUnavailable(`libvirt at ${cfg.connectionUri}: ${messageOf(err)}`, { cause: err });
    }
    h.cfg = cfg;
    h.virsh = virsh;
    h.ctx = ctx;
    h.prefix = `orrery-${ctx.host.replace(/[^A-Za-z0-9_.-]/g, '_')}-`;
    await mkdir(ctx.stateDir, { recursive: true });
    for (const dir of [cfg.instancesPath, cfg.snapshotsPath]) await mkdir(dir, { recursive: true, mode: 0o755 });
    await this.#warnIfUnreachable(cfg.instancesPath);
    h.cache = new ImageCache(cfg.imageCachePath, ctx.images, ctx.log);
    await h.cache.init();
    h.node = await describeNode(ctx, cfg, virsh, hv);
    this.#nodeEvents.reset(await this.#currentNodes());
    const records = new MoveRecords(join(ctx.stateDir, 'moves'));
    this.#cold = new ColdMoves(h, records);
    this.#liveMoves = new LiveMoves(h, records);

    this.#events = new EventStream({
      uri: cfg.connectionUri,
      log: ctx.log,
      onEvent: (e) => onDomainEvent(h, e),
      probeName: () => `orrery-probe-${h.prefix.slice('orrery-'.length)}${randomBytes(4).toString('hex')}`,
      probe: (name) => probe(h, name),
      onRestart: () => {
        resync(h, () => this.listInstances())
          .catch((err: unknown) => ctx.log.warn('libvirt: resync after the event stream restarted failed', { err: messageOf(err) }));
      },
    });
    try {
      await this.#events.start();
    } catch (err) {
      await this.#events.stop();
      throw new BackendUnavailable(`libvirt event stream: ${messageOf(err)}`, { cause: err });
    }
    // Listed once the stream is subscribed, so no change falls between the two; what the
    // stream already reported is newer than the list.
    for (const i of await this.listInstances()) if (!h.known.has(i.uuid)) h.known.set(i.uuid, i.powerState);
    await this.#removeLeftovers();
    if (cfg.imageCacheManagerInterval > 0) {
      this.#cacheTimer = setInterval(() => {
        this.manageImageCache().catch((err: unknown) => ctx.log.warn('image cache manager failed', { err: messageOf(err) }));
      }, cfg.imageCacheManagerInterval * 1000);
      this.#cacheTimer.unref();
    }
    ctx.log.info('libvirt driver ready', {
      uri: cfg.connectionUri, virtType: cfg.virtType, hypervisor: `${hv.type} ${hv.version}`, instances: h.known.size,
    });
  }

  async shutdown(): Promise<void> {
    const h = this.#h;
    h.closed = true;
    if (this.#cacheTimer) clearInterval(this.#cacheTimer);
    this.#cacheTimer = null;
    const events = this.#events;
    this.#events = null;
    await events?.stop();
    for (const waiters of h.rebootWaiters.values()) for (const w of waiters) w();
  }

  // nodes

  async listNodes(): Promise<NodeInfo[]> {
    const nodes = await this.#currentNodes();
    this.#nodeEvents.seen(nodes);
    return nodes;
  }

  /** The one node, its disk as the instances path's file system has it now. */
  async #currentNodes(): Promise<NodeInfo[]> {
    const node = this.#h.requireNode();
    const fs = await statfs(this.#h.cfg!.instancesPath);
    const diskGb = Math.max(1, Math.floor((fs.blocks * fs.bsize) / GiB));
    return [{ ...node, inventory: { ...node.inventory, DISK_GB: inventory(diskGb) } }];
  }

  /** Group nodeLookup. */
  async getNode(name: string): Promise<NodeInfo> {
    const node = (await this.listNodes()).find((n) => n.name === name);
    if (!node) throw new NodeNotFound(`node ${name} is not managed by this driver (it manages ${this.#h.nodeName})`);
    return node;
  }

  /** libvirtd answers `virsh version`, and how fast. */
  async status(): Promise<DriverStatus> {
    const t0 = performance.now();
    try {
      const hv = await this.#h.requireVirsh().hypervisor(10_000);
      const latencyMs = Math.round(performance.now() - t0);
      return { reachable: true, latencyMs, message: `libvirt at ${this.#h.cfg!.connectionUri}: ${hv.type} ${hv.version}` };
    } catch (err) {
      const known = classifyVirshError(err, '-') ?? err;
      return { reachable: false, latencyMs: null, message: `libvirt at ${this.#h.cfg?.connectionUri ?? '?'}: ${messageOf(known)}` };
    }
  }

  // state and info

  async listInstances(): Promise<InstanceInfo[]> {
    const h = this.#h;
    const virsh = h.requireVirsh();
    let domains: DomainStatus[];
    try {
      domains = await virsh.list();
    } catch (err) {
      rethrowVirsh(err, '*');
    }
    const out: InstanceInfo[] = [];
    for (const d of domains) {
      const uuid = h.uuidOf(d.name);
      if (uuid) out.push({ uuid, node: h.nodeName, powerState: d.powerState });
    }
    return out;
  }

  async getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    const st = await this.#h.status(ref);
    return { uuid: ref.uuid, node: this.#h.nodeName, powerState: st.powerState };
  }

  // lifecycle

  async spawn(spec: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo> {
    const h = this.#h;
    h.requireVirsh();
    if (spec.node !== h.nodeName) throw new NodeNotFound(`node ${spec.node} is not managed by this driver (it manages ${h.nodeName})`);
    h.checkFormat(spec.image);
    checkUuid(spec.uuid);
    checkpoint(opts?.signal);
    return h.locked(spec.uuid, async () => {
      if (await h.exists(spec.uuid)) throw new InstanceExists(`instance ${spec.uuid} already exists`);
      await build(h, spec, 'spawn', opts?.signal);
      return { uuid: spec.uuid, node: spec.node, powerState: PowerState.RUNNING };
    });
  }

  async destroy(ref: InstanceRef, opts?: CallOptions): Promise<void> {
    const h = this.#h;
    h.requireVirsh();
    if (!UUID.test(ref.uuid)) return; // nothing of ours can have that name
    // Aborted while waiting for the instance's lock: the teardown never started.
    await h.locked(ref.uuid, async () => {
      checkpoint(opts?.signal);
      await teardown(h, ref.uuid, false);
    });
  }

  async reboot(ref: InstanceRef, type: RebootType): Promise<void> {
    const h = this.#h;
    await h.locked(ref.uuid, async () => {
      const st = await h.status(ref);
      if (type === 'soft') {
        if (st.powerState !== PowerState.RUNNING) {
          throw new InvalidState(`instance ${ref.uuid} is ${st.state}: a soft reboot needs it running`);
        }
        if (await softReboot(h, ref.uuid)) return;
        h.ctx!.log.info('soft reboot not answered in time: rebooting hard', { instance: ref.uuid });
      }
      await hardReboot(h, ref);
    });
  }

  async powerOff(ref: InstanceRef, timeoutSec: number): Promise<void> {
    const h = this.#h;
    await h.locked(ref.uuid, async () => {
      const st = await h.status(ref);
      switch (st.powerState) {
        case PowerState.SHUTDOWN:
        case PowerState.CRASHED:
          return;
        case PowerState.SUSPENDED:
          await h.virshOn(ref.uuid, ['managedsave-remove', h.domainName(ref.uuid)]);
          return;
        case PowerState.RUNNING:
          if (timeoutSec > 0 && (await cleanShutdown(h, ref.uuid, timeoutSec))) return;
          break;
        default:
          break; // paused (or unknown): ACPI cannot reach it
      }
      await h.destroyDomain(ref.uuid);
    });
  }

  async powerOn(ref: InstanceRef): Promise<void> {
    const h = this.#h;
    await h.locked(ref.uuid, async () => {
      const st = await h.status(ref);
      if (st.powerState === PowerState.RUNNING) return;
      if (st.powerState !== PowerState.SHUTDOWN && st.powerState !== PowerState.CRASHED) {
        throw new InvalidState(`instance ${ref.uuid} is ${st.state}: power on needs it stopped`);
      }
      await h.start(ref.uuid);
    });
  }

  pause(ref: InstanceRef): Promise<void> {
    return transitionOp(this.#h, ref, [PowerState.RUNNING], 'pause', ['suspend']);
  }

  unpause(ref: InstanceRef): Promise<void> {
    return transitionOp(this.#h, ref, [PowerState.PAUSED], 'unpause', ['resume']);
  }

  /** Managed save: memory to disk, QEMU gone; resume (virsh start) restores it running. */
  suspend(ref: InstanceRef): Promise<void> {
    return transitionOp(this.#h, ref, [PowerState.RUNNING, PowerState.PAUSED], 'suspend', ['managedsave', '--running'], 10 * 60_000);
  }

  resume(ref: InstanceRef): Promise<void> {
    return transitionOp(this.#h, ref, [PowerState.SUSPENDED], 'resume', ['start'], 10 * 60_000);
  }

  /** Nova's rebuild: the same domain name and UUID, new disks from the (new) image, booted afresh. */
  async rebuild(req: RebuildRequest): Promise<InstanceInfo> {
    const h = this.#h;
    const spec: InstanceSpec = { ...req.instance, image: req.image };
    h.checkFormat(spec.image);
    return h.locked(spec.uuid, async () => {
      await h.status(spec);
      // Fetch first: a missing or bad image leaves the instance as it was.
      const ids = imageIds(spec.image);
      h.cache!.pin(ids);
      try {
        rootDiskSize(spec, await prepareImages(h, spec.image));
        await teardown(h, spec.uuid, true);
        await build(h, spec, 'rebuild');
      } finally {
        h.cache!.unpin(ids);
      }
      return { uuid: spec.uuid, node: h.nodeName, powerState: PowerState.RUNNING };
    });
  }

  // console and snapshot

  getConsoleOutput(ref: InstanceRef): Promise<string> {
    return consoleOutput(this.#h, ref);
  }

  /** Contract 1.4: where the running guest's VNC or serial console listens. */
  getConsole(ref: InstanceRef, kind: ConsoleKind): Promise<ConsoleEndpoint> {
    return getConsole(this.#h, ref, kind);
  }

  /** The root disk (overlay and base, flattened) in the image's disk format; a running guest is paused for the copy. */
  snapshot(req: SnapshotRequest, opts?: CallOptions): Promise<void> {
    return snapshot(this.#h, req, opts);
  }

  // moves (contract 1.2; cold-moves.ts, live-moves.ts)

  migrateDiskAndPowerOff(req: MigrateDiskRequest, opts?: CallOptions): Promise<void> { return this.#coldMoves.migrateDiskAndPowerOff(req, opts); }
  finishMigration(req: FinishMigrationRequest, opts?: CallOptions): Promise<InstanceInfo> { return this.#coldMoves.finishMigration(req, opts); }
  confirmMigration(move: MoveRef): Promise<void> { return this.#coldMoves.confirmMigration(move); }
  revertMigration(move: MoveRef): Promise<void> { return this.#coldMoves.revertMigration(move); }
  finishRevertMigration(move: MoveRef, powerOn: boolean): Promise<InstanceInfo> { return this.#coldMoves.finishRevertMigration(move, powerOn); }
  preLiveMigration(req: PreLiveMigrationRequest, opts?: CallOptions): Promise<LiveMigrationTarget> { return this.#live.preLiveMigration(req, opts); }
  liveMigration(req: LiveMigrationRequest, opts?: CallOptions): Promise<void> { return this.#live.liveMigration(req, opts); }
  liveMigrationForceComplete(move: MoveRef): Promise<void> { return this.#live.liveMigrationForceComplete(move); }
  postLiveMigrationAtDestination(move: MoveRef): Promise<InstanceInfo> { return this.#live.postLiveMigrationAtDestination(move); }
  postLiveMigrationAtSource(move: MoveRef): Promise<void> { return this.#live.postLiveMigrationAtSource(move); }
  rollbackLiveMigrationAtDestination(move: MoveRef): Promise<void> { return this.#live.rollbackLiveMigrationAtDestination(move); }

  // VIFs (contract 1.3; vifs.ts)

  plugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> { return this.#vifs.plugVifs(ref, ports); }
  unplugVifs(ref: InstanceRef, ports: VifInfo[]): Promise<void> { return this.#vifs.unplugVifs(ref, ports); }
  attachInterface(ref: InstanceRef, port: VifInfo): Promise<void> { return this.#vifs.attachInterface(ref, port); }
  detachInterface(ref: InstanceRef, port: VifInfo): Promise<void> { return this.#vifs.detachInterface(ref, port); }
  /** The MACs of the guest's NICs, live or as defined (tests look at them). */
  guestMacs(ref: InstanceRef, live = true): Promise<string[]> { return this.#vifs.macs(ref, live); }

  get #coldMoves(): ColdMoves {
    this.#h.requireVirsh();
    return this.#cold!;
  }

  get #live(): LiveMoves {
    this.#h.requireVirsh();
    return this.#liveMoves!;
  }

  // events

  onEvent(listener: EventListener): () => void {
    this.#h.listeners.add(listener);
    return () => {
      this.#h.listeners.delete(listener);
    };
  }

  onNodeEvent(listener: NodeEventListener): () => void {
    return this.#nodeEvents.add(listener);
  }

  // the image cache

  /**
   * One run of the cache manager (also run periodically): removes cached images no instance
   * of this instances_path uses (nor a guest a cold move keeps) that have been unused for
   * remove_unused_original_minimum_age_seconds.
   */
  async manageImageCache(maxAgeSec = this.#h.requireCfg().imageCacheMaxAge): Promise<string[]> {
    const inUse = new Set<string>();
    for (const rec of await this.#h.instanceRecords(true)) for (const id of rec.images) inUse.add(id);
    return this.#h.cache!.expire(inUse, maxAgeSec);
  }

  /** The domain name of an instance on this host (tests use it to reach libvirt directly). */
  domainName(uuid: string): string {
    return this.#h.domainName(uuid);
  }

  /** The pid of the `virsh event` process (tests kill it to check the stream restarts). */
  get eventStreamPid(): number | undefined {
    return this.#events?.pid;
  }

  // internals

  /** Instance directories of this host without a domain (a crash mid-spawn) and stale snapshot files. */
  async #removeLeftovers(): Promise<void> {
    const h = this.#h;
    const cfg = h.cfg!;
    for (const rec of await h.instanceRecords()) {
      if (rec.host !== h.ctx!.host || h.known.has(rec.uuid)) continue;
      h.ctx!.log.warn('removing the files of an instance libvirt does not know', { instance: rec.uuid });
      await rm(join(cfg.instancesPath, rec.uuid), { recursive: true, force: true });
    }
    for (const f of await readdir(cfg.snapshotsPath).catch(() => [] as string[])) {
      if (f.endsWith('.tmp')) await rm(join(cfg.snapshotsPath, f), { force: true });
    }
  }

  /** QEMU runs as an unprivileged user by default: it must be able to reach the instance files. */
  async #warnIfUnreachable(path: string): Promise<void> {
    for (let dir = path; dir !== dirname(dir); dir = dirname(dir)) {
      const st = await stat(dir).catch(() => null);
      if (st && (st.mode & 0o001) === 0) {
        this.#h.ctx!.log.warn('instances_path may be unreachable by QEMU: a parent directory is not searchable by other users', { path, dir });
        return;
      }
    }
  }
}
