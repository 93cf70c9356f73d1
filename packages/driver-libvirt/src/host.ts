/**
 * What every part of the libvirt driver shares: its configuration, its virsh, the image cache,
 * the names of its domains and instance directories, the per-instance lock, and the power
 * states its lifecycle events were computed from. The driver (driver.ts) owns one; the parts
 * (build.ts, power.ts, console.ts, domain-events.ts, cold-moves.ts, live-moves.ts) work on it.
 */
import { readdir, readFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  abortError, BackendUnavailable, InstanceNotFound, isDriverError, NotSupported, PowerState, transitionFor,
  type DriverContext, type EventListener, type ImageRef, type InstanceRef, type LifecycleEvent, type NodeInfo,
} from '@orrery/virt-api';
import type { LibvirtConfig } from './config.js';
import { classifyVirshError, rethrowVirsh } from './exec.js';
import type { ImageCache } from './image-cache.js';
import type { DomainStatus, Virsh } from './virsh.js';

export const GiB = 1024 ** 3;
export const MiB = 1024 ** 2;
/** Root disk formats the driver boots ('ami' is a raw disk, as Glance and Nova use it). */
export const IMAGE_FORMATS = ['qcow2', 'raw', 'ami'];
export const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));
export const messageOf = (err: unknown) => (err instanceof Error ? err.message : String(err));

/** What an instance's files record about it (orrery.json). */
export interface InstanceRecord {
  uuid: string;
  host: string;
  images: string[];
  /** The flavor's root_gb the root disk was made for (a resize to root_gb 0 cannot tell its size). */
  rootGb?: number;
  /** The cold move that made this instance here (finishMigration run again, revert on this host). */
  migrationId?: string;
}

/** An instance's orrery.json, or null. */
export async function readInstanceRecord(dir: string): Promise<InstanceRecord | null> {
  try {
    return JSON.parse(await readFile(join(dir, 'orrery.json'), 'utf8')) as InstanceRecord;
  } catch {
    return null;
  }
}

export function checkUuid(uuid: string): void {
  if (!UUID.test(uuid)) throw new Error(`libvirt driver: instance uuid ${JSON.stringify(uuid)} is not a UUID`);
}

/** Ends a long call whose signal was aborted (contract 1.1), between two of its steps. */
export function checkpoint(signal: AbortSignal | undefined): void {
  if (signal?.aborted) throw abortError(signal);
}

/** The ids of the images an instance boots from: the root image, and its kernel and ramdisk if any. */
export function imageIds(image: ImageRef): string[] {
  const kernel = image.properties['kernel_id'];
  const ramdisk = image.properties['ramdisk_id'];
  return [image.id, ...(kernel ? [kernel] : []), ...(kernel && ramdisk ? [ramdisk] : [])];
}

export function inventory(total: number) {
  return { total, reserved: 0, minUnit: 1, maxUnit: total, stepSize: 1, allocationRatio: null };
}

/** The directory a cold move sets an instance's kept files aside in (not a UUID: never taken for a leftover). */
export const keptDirName = (uuid: string) => `${uuid}_resize`;

export class LibvirtHost {
  ctx: DriverContext | null = null;
  cfg: LibvirtConfig | null = null;
  virsh: Virsh | null = null;
  cache: ImageCache | null = null;
  node: NodeInfo | null = null;
  prefix = '';
  closed = false;
  readonly listeners = new Set<EventListener>();
  /** Last power state libvirt's events reported per instance: events fire on changes only. */
  readonly known = new Map<string, PowerState>();
  /** Operations on one instance run one at a time. */
  readonly #locks = new Map<string, Promise<void>>();
  /** Soft reboots waiting for libvirt's reboot event, per instance. */
  readonly rebootWaiters = new Map<string, Set<() => void>>();

  get nodeName(): string {
    return this.ctx?.host ?? '';
  }

  domainName(uuid: string): string {
    return `${this.prefix}${uuid}`;
  }

  uuidOf(domain: string): string | null {
    if (!this.prefix || !domain.startsWith(this.prefix)) return null;
    const rest = domain.slice(this.prefix.length);
    return UUID.test(rest) ? rest : null;
  }

  instanceDir(uuid: string): string {
    checkUuid(uuid);
    return join(this.cfg!.instancesPath, uuid);
  }

  requireVirsh(): Virsh {
    if (!this.virsh || this.closed) throw new BackendUnavailable('libvirt driver is not running (init() not called, or shut down)');
    return this.virsh;
  }

  requireCfg(): LibvirtConfig {
    this.requireVirsh();
    return this.cfg!;
  }

  requireNode(): NodeInfo {
    this.requireVirsh();
    return this.node!;
  }

  checkFormat(image: ImageRef): void {
    const formats = this.cfg?.imageFormats ?? IMAGE_FORMATS;
    if (!formats.includes(image.diskFormat.toLowerCase())) {
      throw new NotSupported(`this libvirt host boots ${formats.join(', ')} images, not ${image.diskFormat}`);
    }
  }

  /** The domain's state; InstanceNotFound when there is no such domain of ours. */
  async status(ref: InstanceRef): Promise<DomainStatus> {
    const virsh = this.requireVirsh();
    if (!UUID.test(ref.uuid) || (ref.node !== undefined && ref.node !== this.nodeName)) {
      throw new InstanceNotFound(`instance ${ref.uuid} not found on node ${ref.node}`);
    }
    try {
      return await virsh.status(this.domainName(ref.uuid));
    } catch (err) {
      rethrowVirsh(err, ref.uuid);
    }
  }

  async exists(uuid: string): Promise<boolean> {
    try {
      await this.status({ uuid, node: this.nodeName });
      return true;
    } catch (err) {
      if (isDriverError(err, 'InstanceNotFound')) return false;
      throw err;
    }
  }

  /** A virsh command about one instance, its failures in the taxonomy where they mean something. */
  async virshOn(uuid: string, args: string[], timeoutMs?: number, signal?: AbortSignal): Promise<string> {
    try {
      return await this.virsh!.run(args, { timeoutMs, signal });
    } catch (err) {
      rethrowVirsh(err, uuid);
    }
  }

  async locked<T>(uuid: string, fn: () => Promise<T>): Promise<T> {
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

  /** The records of the instance directories (and of the kept copies of cold moves) of instances_path. */
  async instanceRecords(withKept = false): Promise<InstanceRecord[]> {
    const records: InstanceRecord[] = [];
    const root = this.cfg!.instancesPath;
    for (const name of await readdir(root).catch(() => [] as string[])) {
      const uuid = name.endsWith('_resize') && withKept ? name.slice(0, -'_resize'.length) : name;
      if (!UUID.test(uuid)) continue;
      try {
        records.push(JSON.parse(await readFile(join(root, name, 'orrery.json'), 'utf8')) as InstanceRecord);
      } catch {
        // being built, or not ours
      }
    }
    return records;
  }

  async start(uuid: string, signal?: AbortSignal): Promise<void> {
    await this.virshOn(uuid, ['start', this.domainName(uuid)], 10 * 60_000, signal);
  }

  async destroyDomain(uuid: string): Promise<void> {
    try {
      await this.virsh!.run(['destroy', this.domainName(uuid)]);
    } catch (err) {
      const known = classifyVirshError(err, uuid);
      // Already stopped: that is what was asked.
      if (isDriverError(known, 'InvalidState')) return;
      throw known ?? err;
    }
  }

  /** Undefines the domain (with any managed save); a domain already gone is fine. */
  async undefine(uuid: string): Promise<void> {
    try {
      await this.virsh!.run(['undefine', '--managed-save', '--snapshots-metadata', this.domainName(uuid)]);
    } catch (err) {
      const known = classifyVirshError(err, uuid);
      if (!isDriverError(known, 'InstanceNotFound')) throw known ?? err;
    }
  }

  /** Records the instance's new power state and tells the listeners when it is a transition. */
  transition(uuid: string, next: PowerState): void {
    const prev = this.known.get(uuid) ?? null;
    this.known.set(uuid, next);
    const transition = transitionFor(prev, next);
    if (!transition) return;
    const event: LifecycleEvent = { uuid, node: this.nodeName, transition, powerState: next, at: Date.now() };
    for (const l of [...this.listeners]) {
      try {
        l(event);
      } catch (err) {
        this.ctx?.log.warn('lifecycle listener threw', { err: messageOf(err) });
      }
    }
  }
}
