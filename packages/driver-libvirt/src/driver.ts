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
 */
import { createReadStream } from 'node:fs';
import { mkdir, open, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import { randomBytes, randomUUID } from 'node:crypto';
import { dirname, join } from 'node:path';
import {
  abortError, BackendUnavailable, CapacityExceeded, ImageError, InstanceExists, InstanceNotFound, InvalidState,
  isAllowedError, isDriverError, NodeEventHub, NodeNotFound, NotSupported, PowerState, transitionFor,
  type CallOptions, type Capabilities, type CpuInfo, type DriverContext, type DriverMethod, type DriverStatus,
  type DriverVersionInfo, type EventListener, type ImageRef, type InstanceInfo, type InstanceRef, type InstanceSpec,
  type LifecycleEvent, type NodeEventListener, type NodeInfo, type RebootType, type RebuildRequest, type SnapshotRequest,
  type VirtDriver,
} from '@orrery/virt-api';
import { parseConfig, type LibvirtConfig } from './config.js';
import { domainXml, type DiskDevice } from './domain-xml.js';
import { EventStream, type DomainEvent } from './event-stream.js';
import { classifyVirshError, CommandError, rethrowVirsh } from './exec.js';
import { ImageCache, type ImageUse } from './image-cache.js';
import { convert, createBlank, createOverlay, diskInfo, makeSwap, qemuFormatFor } from './qemu-img.js';
import { Virsh, type DomainStatus } from './virsh.js';

const GiB = 1024 ** 3;
const MiB = 1024 ** 2;
/** Root disk formats the driver boots ('ami' is a raw disk, as Glance and Nova use it). */
export const IMAGE_FORMATS = ['qcow2', 'raw', 'ami'];
/** How often an unanswered ACPI request (shutdown, reboot) is sent again: guests ignore it while booting. */
const ACPI_RETRY_MS = 10_000;
/** getConsoleOutput returns at most the last this-many bytes of the log (Nova's limit). */
const MAX_CONSOLE_BYTES = 100 * 1024;
const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** The power state a lifecycle event leaves a domain in, or null for events that change none. */
export function lifecyclePowerState(event: string, detail: string): PowerState | null {
  switch (event) {
    case 'Started':
    case 'Resumed':
      return PowerState.RUNNING;
    case 'Suspended':
      return PowerState.PAUSED;
    case 'Stopped':
      return detail.startsWith('Saved') ? PowerState.SUSPENDED : PowerState.SHUTDOWN;
    case 'PMSuspended':
      return PowerState.SUSPENDED;
    case 'Crashed':
      return PowerState.CRASHED;
    default:
      return null; // Defined, Undefined, Shutdown (a Stopped follows), …
  }
}

/** What an instance's files record about it (orrery.json). */
interface InstanceRecord {
  uuid: string;
  host: string;
  images: string[];
}

/** The images an instance boots from, fetched into the cache. */
interface PreparedImages {
  ids: string[];
  root: { path: string; format: 'qcow2' | 'raw'; virtualSize: number };
  kernel: string | null;
  ramdisk: string | null;
}

export class LibvirtDriver implements VirtDriver {
  #ctx: DriverContext | null = null;
  #cfg: LibvirtConfig | null = null;
  #virsh: Virsh | null = null;
  #events: EventStream | null = null;
  #cache: ImageCache | null = null;
  #cacheTimer: NodeJS.Timeout | null = null;
  #node: NodeInfo | null = null;
  #prefix = '';
  #closed = false;
  readonly #listeners = new Set<EventListener>();
  /** Last power state libvirt's events reported per instance: events fire on changes only. */
  readonly #known = new Map<string, PowerState>();
  /** Operations on one instance run one at a time. */
  readonly #locks = new Map<string, Promise<void>>();
  /** Soft reboots waiting for libvirt's reboot event, per instance. */
  readonly #rebootWaiters = new Map<string, Set<() => void>>();
  /** The node's inventory changes (its disk grows or shrinks) as node events. */
  readonly #nodeEvents = new NodeEventHub((err) => this.#ctx?.log.warn('node event listener failed', { err: messageOf(err) }));

  // identity and version handshake

  version(): DriverVersionInfo {
    return { name: 'libvirt', driverVersion: '1.1.0', contract: { min: '1.0', max: '1.1' }, groups: ['nodeLookup'] };
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
      imageFormats: [...IMAGE_FORMATS],
      hypervisorType: 'QEMU',
    };
  }

  async init(ctx: DriverContext): Promise<void> {
    if (this.#ctx) throw new Error('libvirt driver: init() called twice');
    const cfg = parseConfig(ctx.stateDir, ctx.config);
    const virsh = new Virsh(cfg.connectionUri);
    let hv;
    try {
      hv = await virsh.hypervisor();
    } catch (err) {
      throw classifyVirshError(err, '-') ?? new BackendUnavailable(`libvirt at ${cfg.connectionUri}: ${messageOf(err)}`, { cause: err });
    }
    this.#cfg = cfg;
    this.#virsh = virsh;
    this.#ctx = ctx;
    this.#prefix = `orrery-${ctx.host.replace(/[^A-Za-z0-9_.-]/g, '_')}-`;
    await mkdir(ctx.stateDir, { recursive: true });
    for (const dir of [cfg.instancesPath, cfg.snapshotsPath]) await mkdir(dir, { recursive: true, mode: 0o755 });
    await this.#warnIfUnreachable(cfg.instancesPath);
    this.#cache = new ImageCache(cfg.imageCachePath, ctx.images, ctx.log);
    await this.#cache.init();
    this.#node = await this.#describeNode(ctx, cfg, virsh, hv);
    this.#nodeEvents.reset(await this.#currentNodes());

    this.#events = new EventStream({
      uri: cfg.connectionUri,
      log: ctx.log,
      onEvent: (e) => this.#onDomainEvent(e),
      probeName: () => `orrery-probe-${this.#prefix.slice('orrery-'.length)}${randomBytes(4).toString('hex')}`,
      probe: (name) => this.#probe(name),
      onRestart: () => {
        this.#resync().catch((err: unknown) => ctx.log.warn('libvirt: resync after the event stream restarted failed', { err: messageOf(err) }));
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
    for (const i of await this.listInstances()) if (!this.#known.has(i.uuid)) this.#known.set(i.uuid, i.powerState);
    await this.#removeLeftovers();
    if (cfg.imageCacheManagerInterval > 0) {
      this.#cacheTimer = setInterval(() => {
        this.manageImageCache().catch((err: unknown) => ctx.log.warn('image cache manager failed', { err: messageOf(err) }));
      }, cfg.imageCacheManagerInterval * 1000);
      this.#cacheTimer.unref();
    }
    ctx.log.info('libvirt driver ready', {
      uri: cfg.connectionUri, virtType: cfg.virtType, hypervisor: `${hv.type} ${hv.version}`, instances: this.#known.size,
    });
  }

  async shutdown(): Promise<void> {
    this.#closed = true;
    if (this.#cacheTimer) clearInterval(this.#cacheTimer);
    this.#cacheTimer = null;
    const events = this.#events;
    this.#events = null;
    await events?.stop();
    for (const waiters of this.#rebootWaiters.values()) for (const w of waiters) w();
  }

  // nodes

  async listNodes(): Promise<NodeInfo[]> {
    const nodes = await this.#currentNodes();
    this.#nodeEvents.seen(nodes);
    return nodes;
  }

  /** The one node, its disk as the instances path's file system has it now. */
  async #currentNodes(): Promise<NodeInfo[]> {
    const node = this.#requireNode();
    const fs = await statfs(this.#cfg!.instancesPath);
    const diskGb = Math.max(1, Math.floor((fs.blocks * fs.bsize) / GiB));
    return [{ ...node, inventory: { ...node.inventory, DISK_GB: inventory(diskGb) } }];
  }

  /** Group nodeLookup. */
  async getNode(name: string): Promise<NodeInfo> {
    const node = (await this.listNodes()).find((n) => n.name === name);
    if (!node) throw new NodeNotFound(`node ${name} is not managed by this driver (it manages ${this.#nodeName})`);
    return node;
  }

  /** libvirtd answers `virsh version`, and how fast. */
  async status(): Promise<DriverStatus> {
    const t0 = performance.now();
    try {
      const hv = await this.#requireVirsh().hypervisor(10_000);
      const latencyMs = Math.round(performance.now() - t0);
      return { reachable: true, latencyMs, message: `libvirt at ${this.#cfg!.connectionUri}: ${hv.type} ${hv.version}` };
    } catch (err) {
      const known = classifyVirshError(err, '-') ?? err;
      return { reachable: false, latencyMs: null, message: `libvirt at ${this.#cfg?.connectionUri ?? '?'}: ${messageOf(known)}` };
    }
  }

  // state and info

  async listInstances(): Promise<InstanceInfo[]> {
    const virsh = this.#requireVirsh();
    let domains: DomainStatus[];
    try {
      domains = await virsh.list();
    } catch (err) {
      rethrowVirsh(err, '*');
    }
    const out: InstanceInfo[] = [];
    for (const d of domains) {
      const uuid = this.#uuidOf(d.name);
      if (uuid) out.push({ uuid, node: this.#nodeName, powerState: d.powerState });
    }
    return out;
  }

  async getInstance(ref: InstanceRef): Promise<InstanceInfo> {
    const st = await this.#status(ref);
    return { uuid: ref.uuid, node: this.#nodeName, powerState: st.powerState };
  }

  // lifecycle

  async spawn(spec: InstanceSpec, opts?: CallOptions): Promise<InstanceInfo> {
    this.#requireVirsh();
    if (spec.node !== this.#nodeName) throw new NodeNotFound(`node ${spec.node} is not managed by this driver (it manages ${this.#nodeName})`);
    this.#checkFormat(spec.image);
    checkUuid(spec.uuid);
    checkpoint(opts?.signal);
    return this.#locked(spec.uuid, async () => {
      if (await this.#exists(spec.uuid)) throw new InstanceExists(`instance ${spec.uuid} already exists`);
      await this.#build(spec, 'spawn', opts?.signal);
      return { uuid: spec.uuid, node: spec.node, powerState: PowerState.RUNNING };
    });
  }

  async destroy(ref: InstanceRef, opts?: CallOptions): Promise<void> {
    this.#requireVirsh();
    if (!UUID.test(ref.uuid)) return; // nothing of ours can have that name
    // Aborted while waiting for the instance's lock: the teardown never started.
    await this.#locked(ref.uuid, async () => {
      checkpoint(opts?.signal);
      await this.#teardown(ref.uuid, false);
    });
  }

  async reboot(ref: InstanceRef, type: RebootType): Promise<void> {
    await this.#locked(ref.uuid, async () => {
      const st = await this.#status(ref);
      if (type === 'soft') {
        if (st.powerState !== PowerState.RUNNING) {
          throw new InvalidState(`instance ${ref.uuid} is ${st.state}: a soft reboot needs it running`);
        }
        if (await this.#softReboot(ref.uuid)) return;
        this.#ctx!.log.info('soft reboot not answered in time: rebooting hard', { instance: ref.uuid });
      }
      await this.#hardReboot(ref);
    });
  }

  async powerOff(ref: InstanceRef, timeoutSec: number): Promise<void> {
    await this.#locked(ref.uuid, async () => {
      const st = await this.#status(ref);
      switch (st.powerState) {
        case PowerState.SHUTDOWN:
        case PowerState.CRASHED:
          return;
        case PowerState.SUSPENDED:
          await this.#virshOn(ref.uuid, ['managedsave-remove', this.#domainName(ref.uuid)]);
          return;
        case PowerState.RUNNING:
          if (timeoutSec > 0 && (await this.#cleanShutdown(ref.uuid, timeoutSec))) return;
          break;
        default:
          break; // paused (or unknown): ACPI cannot reach it
      }
      await this.#destroyDomain(ref.uuid);
    });
  }

  async powerOn(ref: InstanceRef): Promise<void> {
    await this.#locked(ref.uuid, async () => {
      const st = await this.#status(ref);
      if (st.powerState === PowerState.RUNNING) return;
      if (st.powerState !== PowerState.SHUTDOWN && st.powerState !== PowerState.CRASHED) {
        throw new InvalidState(`instance ${ref.uuid} is ${st.state}: power on needs it stopped`);
      }
      await this.#start(ref.uuid);
    });
  }

  pause(ref: InstanceRef): Promise<void> {
    return this.#transitionOp(ref, [PowerState.RUNNING], 'pause', ['suspend']);
  }

  unpause(ref: InstanceRef): Promise<void> {
    return this.#transitionOp(ref, [PowerState.PAUSED], 'unpause', ['resume']);
  }

  /** Managed save: memory to disk, QEMU gone; resume (virsh start) restores it running. */
  suspend(ref: InstanceRef): Promise<void> {
    return this.#transitionOp(ref, [PowerState.RUNNING, PowerState.PAUSED], 'suspend', ['managedsave', '--running'], 10 * 60_000);
  }

  resume(ref: InstanceRef): Promise<void> {
    return this.#transitionOp(ref, [PowerState.SUSPENDED], 'resume', ['start'], 10 * 60_000);
  }

  /** Nova's rebuild: the same domain name and UUID, new disks from the (new) image, booted afresh. */
  async rebuild(req: RebuildRequest): Promise<InstanceInfo> {
    const spec: InstanceSpec = { ...req.instance, image: req.image };
    this.#checkFormat(spec.image);
    return this.#locked(spec.uuid, async () => {
      await this.#status(spec);
      // Fetch first: a missing or bad image leaves the instance as it was.
      const ids = imageIds(spec.image);
      this.#cache!.pin(ids);
      try {
        rootDiskSize(spec, await this.#prepareImages(spec.image));
        await this.#teardown(spec.uuid, true);
        await this.#build(spec, 'rebuild');
      } finally {
        this.#cache!.unpin(ids);
      }
      return { uuid: spec.uuid, node: this.#nodeName, powerState: PowerState.RUNNING };
    });
  }

  // console and snapshot

  async getConsoleOutput(ref: InstanceRef): Promise<string> {
    await this.#status(ref);
    const path = join(this.#instanceDir(ref.uuid), 'console.log');
    let fh;
    try {
      fh = await open(path, 'r');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return '';
      throw err;
    }
    try {
      const size = (await fh.stat()).size;
      const start = Math.max(0, size - MAX_CONSOLE_BYTES);
      const buf = Buffer.alloc(size - start);
      await fh.read(buf, 0, buf.length, start);
      let text = buf.toString('utf8');
      if (start > 0) text = text.slice(text.indexOf('\n') + 1); // drop the cut line
      return text.replace(/\r\n/g, '\n');
    } finally {
      await fh.close();
    }
  }

  /**
   * Captures the root disk (the overlay and its base, flattened) in the image's disk format and
   * uploads it. A running guest is paused for the copy: pausing makes QEMU flush its disks.
   */
  async snapshot(req: SnapshotRequest, opts?: CallOptions): Promise<void> {
    const signal = opts?.signal;
    const { uuid } = req.instance;
    const cfg = this.#requireCfg();
    const format = qemuFormatFor(req.diskFormat);
    const tmp = join(cfg.snapshotsPath, `${uuid}-${randomBytes(6).toString('hex')}.tmp`);
    try {
      await this.#locked(uuid, async () => {
        const st = await this.#status(req.instance);
        if (format === null) throw new ImageError(`cannot write a snapshot in disk format ${req.diskFormat}`);
        const disk = join(this.#instanceDir(uuid), 'disk');
        checkpoint(signal);
        if (st.powerState === PowerState.RUNNING) {
          await this.#virshOn(uuid, ['suspend', this.#domainName(uuid)]);
          try {
            await convert(disk, 'qcow2', tmp, format, true, signal);
          } finally {
            await this.#virshOn(uuid, ['resume', this.#domainName(uuid)]);
          }
        } else {
          await convert(disk, 'qcow2', tmp, format, st.powerState === PowerState.PAUSED, signal);
        }
      });
      checkpoint(signal);
      try {
        await this.#ctx!.images.upload(req.imageId, createReadStream(tmp));
      } catch (err) {
        // The image service's errors are typed (ImageNotFound, ImageServiceUnavailable).
        if (isDriverError(err)) throw err;
        throw new ImageError(`snapshot upload to image ${req.imageId} failed: ${messageOf(err)}`, { cause: err });
      }
    } finally {
      await rm(tmp, { force: true });
    }
  }

  // events

  onEvent(listener: EventListener): () => void {
    this.#listeners.add(listener);
    return () => {
      this.#listeners.delete(listener);
    };
  }

  onNodeEvent(listener: NodeEventListener): () => void {
    return this.#nodeEvents.add(listener);
  }

  // the image cache

  /**
   * One run of the cache manager (also run periodically): removes cached images no instance
   * of this instances_path uses that have been unused for remove_unused_original_minimum_age_seconds.
   */
  async manageImageCache(maxAgeSec = this.#requireCfg().imageCacheMaxAge): Promise<string[]> {
    const inUse = new Set<string>();
    for (const rec of await this.#instanceRecords()) for (const id of rec.images) inUse.add(id);
    return this.#cache!.expire(inUse, maxAgeSec);
  }

  /** The domain name of an instance on this host (tests use it to reach libvirt directly). */
  domainName(uuid: string): string {
    return this.#domainName(uuid);
  }

  /** The pid of the `virsh event` process (tests kill it to check the stream restarts). */
  get eventStreamPid(): number | undefined {
    return this.#events?.pid;
  }

  // internals: building and tearing down

  /** Builds the instance; an aborted `signal` stops it between steps (and kills the boot), undone as any failure. */
  async #build(spec: InstanceSpec, method: 'spawn' | 'rebuild', signal?: AbortSignal): Promise<void> {
    const cfg = this.#cfg!;
    const ids = imageIds(spec.image);
    const dir = this.#instanceDir(spec.uuid);
    this.#cache!.pin(ids);
    try {
      const memoryMb = Math.max(spec.flavor.memoryMb, cfg.minMemoryMb);
      const hostMb = this.#node!.inventory.MEMORY_MB?.total ?? Infinity;
      if (memoryMb > hostMb) throw new CapacityExceeded(`instance ${spec.uuid} needs ${memoryMb} MiB; the host has ${hostMb} MiB`);
      const images = await this.#prepareImages(spec.image);
      checkpoint(signal);
      await mkdir(dir, { recursive: true, mode: 0o755 });
      const disks = await this.#createDisks(spec, images, dir);
      checkpoint(signal);
      const record: InstanceRecord = { uuid: spec.uuid, host: this.#ctx!.host, images: images.ids };
      await writeFile(join(dir, 'orrery.json'), `${JSON.stringify(record)}\n`);
      const xml = domainXml({
        name: this.#domainName(spec.uuid),
        uuid: spec.uuid,
        virtType: cfg.virtType,
        machineType: cfg.machineType,
        memoryMb,
        vcpus: Math.max(1, spec.flavor.vcpus),
        tbCacheMb: cfg.tbCacheMb,
        kernel: images.kernel
          ? { kernel: images.kernel, ramdisk: images.ramdisk, cmdline: spec.image.properties['os_command_line'] || cfg.kernelCmdline }
          : null,
        disks,
        consoleLog: join(dir, 'console.log'),
        macs: spec.network.ports.map((p) => p.mac),
        metadata: {
          host: this.#ctx!.host, node: spec.node, name: spec.name, project: spec.projectId, user: spec.userId,
          flavor: spec.flavor.name, image: spec.image.id,
        },
      });
      const xmlPath = join(dir, 'libvirt.xml');
      await writeFile(xmlPath, xml);
      await this.#virsh!.run(['define', xmlPath]);
      checkpoint(signal);
      await this.#start(spec.uuid, signal);
    } catch (err) {
      // Nothing half-made survives: no domain, no overlay, no instance directory.
      await this.#teardown(spec.uuid, false).catch((e: unknown) =>
        this.#ctx!.log.error('cleanup after a failed build failed', { instance: spec.uuid, err: messageOf(e) }));
      throw buildError(err, spec.uuid, method);
    } finally {
      this.#cache!.unpin(ids);
    }
  }

  async #prepareImages(image: ImageRef): Promise<PreparedImages> {
    const cache = this.#cache!;
    const use: ImageUse = image.diskFormat.toLowerCase() === 'qcow2' ? 'qcow2' : 'raw';
    const path = await cache.fetch({ id: image.id, use, checksum: image.checksum, size: image.size });
    const virtualSize = use === 'qcow2' ? (await diskInfo(path, 'qcow2')).virtualSize : (await stat(path)).size;
    const kernelId = image.properties['kernel_id'];
    const ramdiskId = image.properties['ramdisk_id'];
    // A ramdisk without a kernel means nothing (Nova ignores it too).
    const kernel = kernelId ? await cache.fetch({ id: kernelId, use: 'kernel' }) : null;
    const ramdisk = kernel && ramdiskId ? await cache.fetch({ id: ramdiskId, use: 'ramdisk' }) : null;
    return { ids: imageIds(image), root: { path, format: use, virtualSize }, kernel, ramdisk };
  }

  async #createDisks(spec: InstanceSpec, images: PreparedImages, dir: string): Promise<DiskDevice[]> {
    const { root } = images;
    const size = rootDiskSize(spec, images);
    const disks: DiskDevice[] = [];
    const target = () => `vd${String.fromCharCode(97 + disks.length)}`;
    const disk = join(dir, 'disk');
    await createOverlay(disk, root.path, root.format, size);
    disks.push({ path: disk, format: 'qcow2', target: target() });
    if (spec.flavor.ephemeralGb > 0) {
      const eph = join(dir, 'disk.eph0');
      await createBlank(eph, 'qcow2', spec.flavor.ephemeralGb * GiB);
      disks.push({ path: eph, format: 'qcow2', target: target() });
    }
    if (spec.flavor.swapMb > 0) {
      const swap = join(dir, 'disk.swap');
      await createBlank(swap, 'raw', spec.flavor.swapMb * MiB);
      await makeSwap(swap);
      disks.push({ path: swap, format: 'raw', target: target() });
    }
    return disks;
  }

  /** Removes the domain (with any managed save) and the instance's files; idempotent. */
  async #teardown(uuid: string, keepConsoleLog: boolean): Promise<void> {
    const name = this.#domainName(uuid);
    await this.#destroyDomain(uuid).catch((err: unknown) => {
      if (!isDriverError(err, 'InstanceNotFound') && !isDriverError(err, 'InvalidState')) throw err;
    });
    try {
      await this.#virsh!.run(['undefine', '--managed-save', '--snapshots-metadata', name]);
    } catch (err) {
      const known = classifyVirshError(err, uuid);
      if (!isDriverError(known, 'InstanceNotFound')) throw known ?? err;
    }
    const dir = this.#instanceDir(uuid);
    if (!keepConsoleLog) {
      await rm(dir, { recursive: true, force: true });
      return;
    }
    for (const f of await readdir(dir).catch(() => [] as string[])) {
      if (!f.startsWith('console.log')) await rm(join(dir, f), { recursive: true, force: true });
    }
  }

  // internals: power

  async #start(uuid: string, signal?: AbortSignal): Promise<void> {
    await this.#virshOn(uuid, ['start', this.#domainName(uuid)], 10 * 60_000, signal);
  }

  async #destroyDomain(uuid: string): Promise<void> {
    try {
      await this.#virsh!.run(['destroy', this.#domainName(uuid)]);
    } catch (err) {
      const known = classifyVirshError(err, uuid);
      // Already stopped: that is what was asked.
      if (isDriverError(known, 'InvalidState')) return;
      throw known ?? err;
    }
  }

  async #hardReboot(ref: InstanceRef): Promise<void> {
    const st = await this.#status(ref);
    if (st.powerState === PowerState.SUSPENDED) {
      await this.#virshOn(ref.uuid, ['managedsave-remove', this.#domainName(ref.uuid)]);
    } else if (st.powerState !== PowerState.SHUTDOWN && st.powerState !== PowerState.CRASHED) {
      await this.#destroyDomain(ref.uuid);
    }
    await this.#start(ref.uuid);
  }

  /**
   * Asks the guest to reboot through ACPI (libvirt powers it down and resets it); true once
   * libvirt reports the reboot and the domain runs, false when the guest did not react within
   * wait_soft_reboot_seconds.
   */
  async #softReboot(uuid: string): Promise<boolean> {
    const deadline = Date.now() + this.#cfg!.waitSoftRebootSeconds * 1000;
    let rebooted = false;
    const waiter = () => {
      rebooted = true;
    };
    const waiters = this.#rebootWaiters.get(uuid) ?? new Set();
    waiters.add(waiter);
    this.#rebootWaiters.set(uuid, waiters);
    try {
      while (!rebooted && Date.now() < deadline && !this.#closed) {
        try {
          await this.#virsh!.run(['reboot', '--mode', 'acpi', this.#domainName(uuid)]);
        } catch (err) {
          if (isDriverError(classifyVirshError(err, uuid), 'InvalidState')) return false; // stopped meanwhile
          throw classifyVirshError(err, uuid) ?? err;
        }
        const retryAt = Math.min(deadline, Date.now() + ACPI_RETRY_MS);
        while (!rebooted && Date.now() < retryAt && !this.#closed) await sleep(100);
      }
    } finally {
      waiters.delete(waiter);
      if (waiters.size === 0) this.#rebootWaiters.delete(uuid);
    }
    if (!rebooted) return false;
    // libvirt resets the guest right after the reboot event; make sure it is running again.
    for (let i = 0; i < 50; i++) {
      if ((await this.#status({ uuid, node: this.#nodeName })).powerState === PowerState.RUNNING) return true;
      await sleep(100);
    }
    return false;
  }

  /** ACPI power button until the guest has shut down or `timeoutSec` passed; true when it did. */
  async #cleanShutdown(uuid: string, timeoutSec: number): Promise<boolean> {
    const deadline = Date.now() + timeoutSec * 1000;
    const ref = { uuid, node: this.#nodeName };
    while (Date.now() < deadline) {
      try {
        await this.#virsh!.run(['shutdown', '--mode', 'acpi', this.#domainName(uuid)]);
      } catch (err) {
        if (!isDriverError(classifyVirshError(err, uuid), 'InvalidState')) throw classifyVirshError(err, uuid) ?? err;
      }
      const retryAt = Math.min(deadline, Date.now() + ACPI_RETRY_MS);
      while (Date.now() < retryAt) {
        if ((await this.#status(ref)).powerState === PowerState.SHUTDOWN) return true;
        await sleep(250);
      }
    }
    return (await this.#status(ref)).powerState === PowerState.SHUTDOWN;
  }

  /** An operation allowed only from `from` power states: one virsh command. */
  async #transitionOp(ref: InstanceRef, from: PowerState[], what: string, args: string[], timeoutMs?: number): Promise<void> {
    await this.#locked(ref.uuid, async () => {
      const st = await this.#status(ref);
      if (!from.includes(st.powerState)) throw new InvalidState(`instance ${ref.uuid} is ${st.state}: cannot ${what} it`);
      await this.#virshOn(ref.uuid, [...args, this.#domainName(ref.uuid)], timeoutMs);
    });
  }

  // internals: events

  #onDomainEvent(e: DomainEvent): void {
    const uuid = this.#uuidOf(e.domain);
    if (!uuid) return;
    if (e.kind === 'reboot') {
      for (const w of this.#rebootWaiters.get(uuid) ?? []) w();
      return;
    }
    if (e.kind !== 'lifecycle') return;
    if (e.event === 'Undefined') {
      this.#known.delete(uuid);
      return;
    }
    const next = lifecyclePowerState(e.event, e.detail);
    if (next !== null) this.#transition(uuid, next);
  }

  #transition(uuid: string, next: PowerState): void {
    const prev = this.#known.get(uuid) ?? null;
    this.#known.set(uuid, next);
    const transition = transitionFor(prev, next);
    if (!transition) return;
    const event: LifecycleEvent = { uuid, node: this.#nodeName, transition, powerState: next, at: Date.now() };
    for (const l of [...this.#listeners]) {
      try {
        l(event);
      } catch (err) {
        this.#ctx?.log.warn('lifecycle listener threw', { err: messageOf(err) });
      }
    }
  }

  /** After the event stream was down: report what changed meanwhile. */
  async #resync(): Promise<void> {
    const now = await this.listInstances();
    const seen = new Set<string>();
    for (const i of now) {
      seen.add(i.uuid);
      this.#transition(i.uuid, i.powerState);
    }
    for (const uuid of [...this.#known.keys()]) if (!seen.has(uuid)) this.#known.delete(uuid);
  }

  /** Defines and undefines a tiny never-started domain: its events prove the stream is subscribed. */
  async #probe(name: string): Promise<void> {
    const xml = `<domain type='qemu'><name>${name}</name><memory unit='KiB'>4096</memory><os><type>hvm</type></os></domain>`;
    const file = join(this.#ctx!.stateDir, `.${name}.xml`);
    await writeFile(file, xml);
    try {
      await this.#virsh!.run(['define', file]);
    } finally {
      await rm(file, { force: true });
    }
    await this.#virsh!.run(['undefine', name]);
  }

  // internals: helpers

  get #nodeName(): string {
    return this.#ctx?.host ?? '';
  }

  #domainName(uuid: string): string {
    return `${this.#prefix}${uuid}`;
  }

  #uuidOf(domain: string): string | null {
    if (!this.#prefix || !domain.startsWith(this.#prefix)) return null;
    const rest = domain.slice(this.#prefix.length);
    return UUID.test(rest) ? rest : null;
  }

  #instanceDir(uuid: string): string {
    checkUuid(uuid);
    return join(this.#cfg!.instancesPath, uuid);
  }

  #requireVirsh(): Virsh {
    if (!this.#virsh || this.#closed) throw new BackendUnavailable('libvirt driver is not running (init() not called, or shut down)');
    return this.#virsh;
  }

  #requireCfg(): LibvirtConfig {
    this.#requireVirsh();
    return this.#cfg!;
  }

  #requireNode(): NodeInfo {
    this.#requireVirsh();
    return this.#node!;
  }

  #checkFormat(image: ImageRef): void {
    if (!IMAGE_FORMATS.includes(image.diskFormat.toLowerCase())) {
      throw new NotSupported(`the libvirt driver boots ${IMAGE_FORMATS.join(', ')} images, not ${image.diskFormat}`);
    }
  }

  /** The domain's state; InstanceNotFound when there is no such domain of ours. */
  async #status(ref: InstanceRef): Promise<DomainStatus> {
    const virsh = this.#requireVirsh();
    if (!UUID.test(ref.uuid) || (ref.node !== undefined && ref.node !== this.#nodeName)) {
      throw new InstanceNotFound(`instance ${ref.uuid} not found on node ${ref.node}`);
    }
    try {
      return await virsh.status(this.#domainName(ref.uuid));
    } catch (err) {
      rethrowVirsh(err, ref.uuid);
    }
  }

  async #exists(uuid: string): Promise<boolean> {
    try {
      await this.#status({ uuid, node: this.#nodeName });
      return true;
    } catch (err) {
      if (isDriverError(err, 'InstanceNotFound')) return false;
      throw err;
    }
  }

  /** A virsh command about one instance, its failures in the taxonomy where they mean something. */
  async #virshOn(uuid: string, args: string[], timeoutMs?: number, signal?: AbortSignal): Promise<string> {
    try {
      return await this.#virsh!.run(args, { timeoutMs, signal });
    } catch (err) {
      rethrowVirsh(err, uuid);
    }
  }

  async #locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
    const prev = this.#locks.get(uuid) ?? Promise.resolve();
    let release!: () => void;
    const mine = new Promise<void>((r) => (release = r));
    const tail = prev.then(() => mine);
    this.#locks.set(uuid, tail);
    await prev;
    try {
      return await fn();
    } finally {
      release();
      if (this.#locks.get(uuid) === tail) this.#locks.delete(uuid);
    }
  }

  async #instanceRecords(): Promise<InstanceRecord[]> {
    const records: InstanceRecord[] = [];
    for (const name of await readdir(this.#cfg!.instancesPath).catch(() => [] as string[])) {
      if (!UUID.test(name)) continue;
      try {
        records.push(JSON.parse(await readFile(join(this.#cfg!.instancesPath, name, 'orrery.json'), 'utf8')) as InstanceRecord);
      } catch {
        // being built, or not ours
      }
    }
    return records;
  }

  /** Instance directories of this host without a domain (a crash mid-spawn) and stale snapshot files. */
  async #removeLeftovers(): Promise<void> {
    const cfg = this.#cfg!;
    for (const rec of await this.#instanceRecords()) {
      if (rec.host !== this.#ctx!.host || this.#known.has(rec.uuid)) continue;
      this.#ctx!.log.warn('removing the files of an instance libvirt does not know', { instance: rec.uuid });
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
        this.#ctx!.log.warn('instances_path may be unreachable by QEMU: a parent directory is not searchable by other users', { path, dir });
        return;
      }
    }
  }

  async #describeNode(ctx: DriverContext, cfg: LibvirtConfig, virsh: Virsh, hv: { type: string; version: string }): Promise<NodeInfo> {
    const [info, caps] = await Promise.all([virsh.nodeinfo(), virsh.capabilities()]);
    const uuidFile = join(ctx.stateDir, 'libvirt-node-uuid');
    let uuid = (await readFile(uuidFile, 'utf8').catch(() => '')).trim();
    if (!UUID.test(uuid)) {
      uuid = randomUUID();
      await writeFile(uuidFile, `${uuid}\n`);
    }
    const [major = 0, minor = 0, micro = 0] = hv.version.split('.').map((n) => Number.parseInt(n, 10) || 0);
    const vcpus = Number.parseInt(info['CPU(s)'] ?? '1', 10) || 1;
    const memoryMb = Math.floor((Number.parseInt(info['Memory size'] ?? '0', 10) || 0) / 1024);
    return {
      name: ctx.host,
      uuid,
      hypervisorType: hv.type,
      hypervisorVersion: major * 1_000_000 + minor * 1000 + micro,
      cpuInfo: hostCpu(caps, info),
      hostIp: cfg.hostIp,
      inventory: { VCPU: inventory(vcpus), MEMORY_MB: inventory(memoryMb), DISK_GB: inventory(1) },
      traits: [],
    };
  }
}

/** The root disk's size: the flavor's, or the image's own when the flavor says 0. */
function rootDiskSize(spec: InstanceSpec, images: PreparedImages): number {
  const { virtualSize } = images.root;
  const size = spec.flavor.rootGb > 0 ? spec.flavor.rootGb * GiB : virtualSize;
  if (virtualSize > size) {
    throw new ImageError(`image ${spec.image.id} (${virtualSize} bytes) is bigger than the flavor's root disk (${spec.flavor.rootGb} GiB)`);
  }
  return size;
}

function inventory(total: number) {
  return { total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: null };
}

function checkUuid(uuid: string): void {
  if (!UUID.test(uuid)) throw new Error(`libvirt driver: instance uuid ${JSON.stringify(uuid)} is not a UUID`);
}

/** The ids of the images an instance boots from: the root image, and its kernel and ramdisk if any. */
function imageIds(image: ImageRef): string[] {
  const kernel = image.properties['kernel_id'];
  const ramdisk = image.properties['ramdisk_id'];
  return [image.id, ...(kernel ? [kernel] : []), ...(kernel && ramdisk ? [ramdisk] : [])];
}

/** Ends a long call whose signal was aborted (contract 1.1), between two of its steps. */
function checkpoint(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** The host CPU from `virsh capabilities` (<host><cpu>…). */
function hostCpu(capsXml: string, info: Record<string, string>): CpuInfo {
  const cpu = /<host>[\s\S]*?<cpu>([\s\S]*?)<\/cpu>/.exec(capsXml)?.[1] ?? '';
  const tag = (t: string) => new RegExp(`<${t}>([^<]*)</${t}>`).exec(cpu)?.[1] ?? '';
  const attr = (a: string) => Number(new RegExp(`<topology[^>]*\\b${a}='(\\d+)'`).exec(cpu)?.[1] ?? 1);
  return {
    arch: tag('arch') || info['CPU model'] || 'x86_64',
    model: tag('model') || 'unknown',
    vendor: tag('vendor') || 'unknown',
    topology: { sockets: attr('sockets'), cores: attr('cores'), threads: attr('threads') },
    features: [...cpu.matchAll(/<feature name='([^']+)'/g)].map((m) => m[1]!),
  };
}

/**
 * A failed spawn or rebuild, as the contract lets it fail: QEMU refusing the kernel or
 * ramdisk is an image problem, memory it cannot get is capacity; anything else the guard
 * reports as a driver fault.
 */
function buildError(err: unknown, uuid: string, method: DriverMethod): unknown {
  if (isDriverError(err)) return isAllowedError(method, err.code) ? err : new Error(err.message, { cause: err });
  if (err instanceof CommandError) {
    if (/kernel|initrd|ramdisk/i.test(err.stderr)) return new ImageError(`instance ${uuid}: QEMU cannot boot the image: ${err.message}`, { cause: err });
    if (/Cannot allocate memory|cannot set up guest memory|Out of memory/i.test(err.stderr)) {
      return new CapacityExceeded(`instance ${uuid}: ${err.message}`, { cause: err });
    }
    const known = classifyVirshError(err, uuid);
    if (known && isAllowedError(method, known.code)) return known;
  }
  return err;
}
