// What the libvirt driver's tests share: whether libvirt is there, the test guest image, a
// conformance-style context, and the list of what a host left behind in libvirt and on disk.
import { execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ImageRef, InstanceSpec, NodeInfo } from '@orrery/virt-api';
import { createTestContext, MemoryImageService } from '@orrery/virt-api/conformance';

export const URI = process.env.ORRERY_LIBVIRT_URI ?? 'qemu:///system';
/** What the test guest prints once its init is done. */
export const BOOT_MARKER = 'ORRERY-GUEST-BOOTED';

function libvirtWorks(): boolean {
  try {
    execFileSync('virsh', ['-q', '-c', URI, 'version'], { stdio: 'ignore', timeout: 20_000 });
    execFileSync('qemu-img', ['--version'], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}

/**
 * The skip reason when libvirt is missing, or false; throws instead under
 * ORRERY_REQUIRE_BACKENDS=1 (CI), as test/support/backends.ts does for the root tests.
 */
export function libvirtSkip(): string | false {
  if (libvirtWorks()) return false;
  const why = `libvirt (virsh -c ${URI}) is not available; run scripts/ci-libvirt.sh`;
  if (process.env.ORRERY_REQUIRE_BACKENDS === '1') throw new Error(`${why} (ORRERY_REQUIRE_BACKENDS=1)`);
  return why;
}

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');

export interface TestImageFiles {
  kernel: string;
  ramdisk: string;
  /** A 1 MiB raw disk (an ami). */
  disk: string;
}

let built: TestImageFiles | null = null;

/** Builds (or finds, cached) the test guest with scripts/build-test-image.sh. */
export function testImageFiles(): TestImageFiles {
  if (built) return built;
  const dir = execFileSync(join(repoRoot, 'scripts/build-test-image.sh'), { encoding: 'utf8', timeout: 300_000 }).trim().split('\n').at(-1)!;
  built = { kernel: join(dir, 'vmlinuz'), ramdisk: join(dir, 'initramfs.img'), disk: join(dir, 'disk.raw') };
  return built;
}

export const md5 = (b: Uint8Array) => createHash('md5').update(b).digest('hex');

/** The test disk as qcow2 bytes. */
export function qcow2Of(raw: string): Buffer {
  const out = `/tmp/orrery-lv-${randomBytes(4).toString('hex')}.qcow2`;
  try {
    execFileSync('qemu-img', ['convert', '-f', 'raw', '-O', 'qcow2', raw, out]);
    return readFileSync(out);
  } finally {
    execFileSync('rm', ['-f', out]);
  }
}

/**
 * A kernel QEMU refuses at start: a boot header of protocol 1.0, which cannot take a ramdisk
 * ("linux kernel too old to load a ram disk"). It passes the driver's own check (the bzImage
 * magic), so the spawn fails late: after the overlay and the domain exist.
 */
export function ancientKernel(): Buffer {
  const k = Buffer.alloc(8192);
  k.write('HdrS', 0x202, 'latin1');
  k.writeUInt16LE(0x0100, 0x206);
  return k;
}

/** Image ids of the test guest in a MemoryImageService. */
export const IDS = { kernel: 'lv-kernel', ramdisk: 'lv-ramdisk', disk: 'lv-disk', disk2: 'kit-image-2', badKernel: 'lv-bad-kernel' };

/** An image service holding the test guest (qcow2 root disk) and a kernel QEMU refuses. */
export function testImageService(): { images: MemoryImageService; root: ImageRef } {
  const files = testImageFiles();
  const images = new MemoryImageService();
  const disk = qcow2Of(files.disk);
  images.images.set(IDS.kernel, readFileSync(files.kernel));
  images.images.set(IDS.ramdisk, readFileSync(files.ramdisk));
  images.images.set(IDS.disk, disk);
  images.images.set(IDS.disk2, disk);
  images.images.set(IDS.badKernel, ancientKernel());
  const root: ImageRef = {
    id: IDS.disk, name: 'lv-disk', diskFormat: 'qcow2', containerFormat: 'bare', size: disk.byteLength,
    checksum: md5(disk), minDiskGb: 0, minRamMb: 0,
    properties: { kernel_id: IDS.kernel, ramdisk_id: IDS.ramdisk, os_command_line: 'console=ttyS0 quiet' },
  };
  return { images, root };
}

/** A small guest of the test image on `node`: 128 MiB, 1 GiB root, 1 GiB ephemeral, 16 MiB swap. */
export function guestSpec(node: NodeInfo | string, root: ImageRef, overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  const uuid = crypto.randomUUID();
  return {
    uuid, name: `lv-${uuid.slice(0, 8)}`, node: typeof node === 'string' ? node : node.name, projectId: 'p', userId: 'u',
    flavor: { id: 'lv.tiny', name: 'lv.tiny', vcpus: 1, memoryMb: 128, rootGb: 1, ephemeralGb: 1, swapMb: 16, extraSpecs: {} },
    image: root, network: { ports: [] }, metadata: {}, userData: null, keyData: null,
    ...overrides,
  };
}

/** A fresh, unique compute host name (libvirt is shared with whoever else runs tests here). */
export const uniqueHost = (prefix = 'lvt') => `${prefix}-${randomBytes(3).toString('hex')}`;

/** A DriverContext whose state dir QEMU (running as libvirt-qemu) can reach. */
export async function libvirtContext(host: string, images: MemoryImageService, config: Record<string, string> = {}) {
  const made = await createTestContext({ host, images, config: { connection_uri: URI, image_cache_manager_interval: '0', ...config } });
  chmodSync(made.ctx.stateDir, 0o755);
  return made;
}

const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', URI, ...args], { encoding: 'utf8' });

/** Domains of `host` (its instances and its event-stream probes), by name. */
export function domainsOf(host: string): string[] {
  return virsh('list', '--all', '--name').split('\n').map((s) => s.trim())
    .filter((n) => n.startsWith(`orrery-${host}-`) || n.startsWith(`orrery-probe-${host}-`));
}

/** Everything `host` left behind: domains, managed-save files, instance dirs, partial downloads, snapshot scratch files. */
export function leftovers(host: string, instancesPath: string): string[] {
  const out = domainsOf(host).map((d) => `domain ${d}`);
  const saveDir = '/var/lib/libvirt/qemu/save';
  if (existsSync(saveDir)) for (const f of readdirSync(saveDir)) if (f.startsWith(`orrery-${host}-`)) out.push(`managed save ${f}`);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  for (const f of ls(instancesPath)) if (f !== '_base' && f !== 'snapshots') out.push(`instance files ${join(instancesPath, f)}`);
  for (const f of ls(join(instancesPath, '_base'))) if (f.includes('.part-')) out.push(`partial download ${f}`);
  for (const f of ls(join(instancesPath, 'snapshots'))) out.push(`snapshot scratch file ${f}`);
  return out;
}

/** Removes every domain of `host` (after a failed test: libvirt outlives the test process). */
export function removeDomains(host: string): void {
  for (const d of domainsOf(host)) {
    try {
      virsh('destroy', d);
    } catch {
      // not running
    }
    try {
      virsh('undefine', '--managed-save', d);
    } catch {
      // gone
    }
  }
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function waitFor<T>(what: string, ms: number, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}
