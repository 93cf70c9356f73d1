// What the Docker driver's tests share: an image service holding the busybox image, specs that
// boot it, a unique host per test (the daemon is shared with whoever else runs tests here),
// the list of what a host left on the daemon, and its removal after a failed test.
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { ImageRef, InstanceSpec, NodeInfo } from '@orrery/virt-api';
import { MemoryImageService } from '@orrery/virt-api/conformance';
import { cacheTagPrefix, LABEL } from '@orrery/driver-docker';
import { buildBusyboxImage } from './busybox-image.js';
import { docker } from './docker.js';

export const IDS = { busybox: 'dk-busybox', busybox2: 'kit-image-2', broken: 'dk-broken' };

export function imageRef(id: string, data: Buffer, md5: string): ImageRef {
  return { id, name: id, diskFormat: 'raw', containerFormat: 'docker', size: data.byteLength, checksum: md5, minDiskGb: 0, minRamMb: 0, properties: {} };
}

/** An image service with the busybox image (twice, as a rebuild's second image) and the broken one. */
export async function busyboxImages(): Promise<{ images: MemoryImageService; busybox: ImageRef; broken: ImageRef }> {
  const ok = await buildBusyboxImage('ok');
  const bad = await buildBusyboxImage('broken');
  const okData = readFileSync(ok.path);
  const badData = readFileSync(bad.path);
  const images = new MemoryImageService();
  images.images.set(IDS.busybox, okData);
  images.images.set(IDS.busybox2, okData);
  images.images.set(IDS.broken, badData);
  return { images, busybox: imageRef(IDS.busybox, okData, ok.md5), broken: imageRef(IDS.broken, badData, bad.md5) };
}

/** A small container of `image` on `node`: 64 MiB, 1 vCPU. */
export function containerSpec(node: NodeInfo | string, image: ImageRef, overrides: Partial<InstanceSpec> = {}): InstanceSpec {
  const uuid = randomUUID();
  return {
    uuid, name: `dk-${uuid.slice(0, 8)}`, node: typeof node === 'string' ? node : node.name, projectId: 'p', userId: 'u',
    flavor: { id: 'dk.tiny', name: 'dk.tiny', vcpus: 1, memoryMb: 64, rootGb: 1, ephemeralGb: 0, swapMb: 0, extraSpecs: {} },
    image, network: { ports: [] }, metadata: {}, userData: null, keyData: null,
    ...overrides,
  };
}

export const uniqueHost = (prefix = 'dkt') => `${prefix}-${randomBytes(3).toString('hex')}`;

const lines = (s: string) => s.split('\n').map((l) => l.trim()).filter(Boolean);

export function containersOf(host: string): string[] {
  return lines(docker(['ps', '-a', '--filter', `label=${LABEL.host}=${host}`, '--format', '{{.Names}}']));
}

export function imagesOf(host: string): string[] {
  const prefix = cacheTagPrefix(host);
  return lines(docker(['images', '--format', '{{.Repository}}:{{.Tag}}'])).filter((t) => t.startsWith(prefix));
}

/** Everything `host` left: containers, cached images, half-done downloads in its state dir. */
export function leftovers(host: string, stateDir: string): string[] {
  const out = [...containersOf(host).map((c) => `container ${c}`), ...imagesOf(host).map((i) => `image ${i}`)];
  const scratch = join(stateDir, 'image-downloads');
  if (existsSync(scratch)) for (const f of readdirSync(scratch)) out.push(`download ${f}`);
  return out;
}

/** Removes every container and image of `host` (after a failed test: the daemon outlives the test). */
export function removeHost(host: string): void {
  const cs = containersOf(host);
  if (cs.length > 0) docker(['rm', '-f', '-v', ...cs]);
  const is = imagesOf(host);
  if (is.length > 0) docker(['rmi', '-f', ...is]);
}

/** Polls `fn` until it returns a truthy value or `ms` pass. */
export async function waitFor<T>(what: string, ms: number, fn: () => Promise<T> | T): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}
