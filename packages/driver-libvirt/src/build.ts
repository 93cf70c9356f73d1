/**
 * Disks, images and domain definitions: building an instance (spawn, rebuild, the destination
 * of a cold move) and tearing it down. Nothing half-made survives a failed build.
 */
import { mkdir, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import {
  CapacityExceeded, ImageError, isAllowedError, isDriverError, type DriverMethod, type ImageRef, type InstanceSpec,
} from '@orrery/virt-api';
import { domainXml, nicsOf, type DiskDevice } from './domain-xml.js';
import { classifyVirshError, CommandError } from './exec.js';
import { checkpoint, GiB, imageIds, messageOf, MiB, type InstanceRecord, type LibvirtHost } from './host.js';
import type { ImageUse } from './image-cache.js';
import { createBlank, createOverlay, diskInfo, makeSwap } from './qemu-img.js';
import { ensureBridges } from './vifs.js';
import { releaseSerialPort, serialPortFor, serialPortIn } from './remote-consoles.js';

/** The images an instance boots from, fetched into the cache. */
export interface PreparedImages {
  ids: string[];
  root: { path: string; format: 'qcow2' | 'raw'; virtualSize: number };
  kernel: string | null;
  ramdisk: string | null;
}

/** The kernel and ramdisk an instance boots with (direct kernel boot), fetched into the cache. */
export interface BootFiles {
  ids: string[];
  kernel: string | null;
  ramdisk: string | null;
}

/** The root disk's size: the flavor's, or the image's own when the flavor says 0. */
export function rootDiskSize(spec: InstanceSpec, images: PreparedImages): number {
  const { virtualSize } = images.root;
  const size = spec.flavor.rootGb > 0 ? spec.flavor.rootGb * GiB : virtualSize;
  if (virtualSize > size) {
    throw new ImageError(`image ${spec.image.id} (${virtualSize} bytes) is bigger than the flavor's root disk (${spec.flavor.rootGb} GiB)`);
  }
  return size;
}

export async function prepareImages(h: LibvirtHost, image: ImageRef): Promise<PreparedImages> {
  const cache = h.cache!;
  const use: ImageUse = image.diskFormat.toLowerCase() === 'qcow2' ? 'qcow2' : 'raw';
  const path = await cache.fetch({ id: image.id, use, checksum: image.checksum, size: image.size });
  const virtualSize = use === 'qcow2' ? (await diskInfo(path, 'qcow2')).virtualSize : (await stat(path)).size;
  const boot = await prepareBootFiles(h, image);
  return { ids: imageIds(image), root: { path, format: use, virtualSize }, kernel: boot.kernel, ramdisk: boot.ramdisk };
}

/** Only the kernel and ramdisk (a moved instance brings its own root disk). */
export async function prepareBootFiles(h: LibvirtHost, image: ImageRef): Promise<BootFiles> {
  const cache = h.cache!;
  const kernelId = image.properties['kernel_id'];
  const ramdiskId = image.properties['ramdisk_id'];
  // A ramdisk without a kernel means nothing (Nova ignores it too).
  const kernel = kernelId ? await cache.fetch({ id: kernelId, use: 'kernel' }) : null;
  const ramdisk = kernel && ramdiskId ? await cache.fetch({ id: ramdiskId, use: 'ramdisk' }) : null;
  return { ids: imageIds(image).slice(1), kernel, ramdisk };
}

/** The flavor's ephemeral and swap disks (blank), after the root disk already in `disks`. */
export async function createExtraDisks(spec: InstanceSpec, dir: string, disks: DiskDevice[]): Promise<void> {
  const target = () => `vd${String.fromCharCode(97 + disks.length)}`;
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
}

async function createDisks(spec: InstanceSpec, images: PreparedImages, dir: string): Promise<DiskDevice[]> {
  const { root } = images;
  const size = rootDiskSize(spec, images);
  const disk = join(dir, 'disk');
  await createOverlay(disk, root.path, root.format, size);
  const disks: DiskDevice[] = [{ path: disk, format: 'qcow2', target: 'vda' }];
  await createExtraDisks(spec, dir, disks);
  return disks;
}

/** Writes orrery.json and libvirt.xml of `spec` into its directory and defines the domain. */
export async function defineInstance(
  h: LibvirtHost, spec: InstanceSpec, boot: BootFiles, disks: DiskDevice[], migrationId?: string,
): Promise<void> {
  const cfg = h.cfg!;
  const dir = h.instanceDir(spec.uuid);
  const record: InstanceRecord = {
    uuid: spec.uuid, host: h.ctx!.host, images: boot.ids, rootGb: spec.flavor.rootGb, ...(migrationId ? { migrationId } : {}),
  };
  await writeFile(join(dir, 'orrery.json'), `${JSON.stringify(record)}\n`);
  const xml = domainXml({
    name: h.domainName(spec.uuid),
    uuid: spec.uuid,
    virtType: cfg.virtType,
    machineType: cfg.machineType,
    memoryMb: memoryOf(h, spec),
    vcpus: Math.max(1, spec.flavor.vcpus),
    tbCacheMb: cfg.tbCacheMb,
    kernel: boot.kernel
      ? { kernel: boot.kernel, ramdisk: boot.ramdisk, cmdline: spec.image.properties['os_command_line'] || cfg.kernelCmdline }
      : null,
    disks,
    consoleLog: join(dir, 'console.log'),
    consoles: { listen: cfg.consoleListen, serialPort: await serialPortFor(h) },
    nics: nicsOf(spec.network.ports),
    metadata: {
      host: h.ctx!.host, node: spec.node, name: spec.name, project: spec.projectId, user: spec.userId,
      flavor: spec.flavor.name, image: spec.image.id,
    },
  });
  const xmlPath = join(dir, 'libvirt.xml');
  await writeFile(xmlPath, xml);
  // Its NICs' bridges before it can start (plugged within the build, as Nova's libvirt driver does).
  await ensureBridges(h, spec.network.ports);
  await h.virsh!.run(['define', xmlPath]);
}

/** The guest's memory: the flavor's, at least min_memory_mb; CapacityExceeded beyond the host's. */
export function memoryOf(h: LibvirtHost, spec: InstanceSpec): number {
  const memoryMb = Math.max(spec.flavor.memoryMb, h.cfg!.minMemoryMb);
  const hostMb = h.node!.inventory.MEMORY_MB?.total ?? Infinity;
  if (memoryMb > hostMb) throw new CapacityExceeded(`instance ${spec.uuid} needs ${memoryMb} MiB; the host has ${hostMb} MiB`);
  return memoryMb;
}

/** Builds the instance; an aborted `signal` stops it between steps (and kills the boot), undone as any failure. */
export async function build(h: LibvirtHost, spec: InstanceSpec, method: 'spawn' | 'rebuild', signal?: AbortSignal): Promise<void> {
  const ids = imageIds(spec.image);
  const dir = h.instanceDir(spec.uuid);
  h.cache!.pin(ids);
  try {
    memoryOf(h, spec);
    const images = await prepareImages(h, spec.image);
    checkpoint(signal);
    await mkdir(dir, { recursive: true, mode: 0o755 });
    const disks = await createDisks(spec, images, dir);
    checkpoint(signal);
    await defineInstance(h, spec, images, disks);
    checkpoint(signal);
    await h.start(spec.uuid, signal);
  } catch (err) {
    // Nothing half-made survives: no domain, no overlay, no instance directory.
    await teardown(h, spec.uuid, false).catch((e: unknown) =>
      h.ctx!.log.error('cleanup after a failed build failed', { instance: spec.uuid, err: messageOf(e) }));
    throw buildError(err, spec.uuid, method);
  } finally {
    h.cache!.unpin(ids);
  }
}

/** Removes the domain (with any managed save) and the instance's files; idempotent. */
export async function teardown(h: LibvirtHost, uuid: string, keepConsoleLog: boolean): Promise<void> {
  await h.destroyDomain(uuid).catch((err: unknown) => {
    if (!isDriverError(err, 'InstanceNotFound') && !isDriverError(err, 'InvalidState')) throw err;
  });
  await h.undefine(uuid);
  const dir = h.instanceDir(uuid);
  releaseSerialPort(serialPortIn(await readFile(join(dir, 'libvirt.xml'), 'utf8').catch(() => '')));
  if (!keepConsoleLog) {
    await rm(dir, { recursive: true, force: true });
    return;
  }
  for (const f of await readdir(dir).catch(() => [] as string[])) {
    if (!f.startsWith('console.log')) await rm(join(dir, f), { recursive: true, force: true });
  }
}

/**
 * A failed spawn or rebuild, as the contract lets it fail: QEMU refusing the kernel or
 * ramdisk is an image problem, memory it cannot get is capacity; anything else the guard
 * reports as a driver fault.
 */
export function buildError(err: unknown, uuid: string, method: DriverMethod): unknown {
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
