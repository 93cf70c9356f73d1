import { createWriteStream } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import type { ImageClient } from '../clients/image-client.js';
import type { Json } from './driver-info.js';

/** The files of one node's netboot, in [baremetal] http_root/<node uuid>/. */
export const BOOT_FILES = ['boot.ipxe', 'kernel', 'ramdisk'] as const;
export type BootFile = (typeof BOOT_FILES)[number];

/** Why a deploy cannot start from its instance_info (recorded as the node's last_error). */
export class DeployInputError extends Error {}

/**
 * The kernel and ramdisk images of an instance_info (Ironic's partition-image netboot): its
 * `kernel` and `ramdisk` image ids when given, else the `kernel_id` and `ramdisk_id` of its
 * `image_source` (an `ami` image with its `aki` kernel and `ari` ramdisk, as Glance links them),
 * and that image's `os_command_line`.
 */
export async function kernelAndRamdiskOf(images: ImageClient, info: Json): Promise<{ kernel: string; ramdisk: string; cmdline: string | null }> {
  const given = (k: string): string | null => (typeof info[k] === 'string' && info[k] !== '' ? info[k] as string : null);
  let kernel = given('kernel');
  let ramdisk = given('ramdisk');
  let cmdline: string | null = null;
  if (!kernel || !ramdisk) {
    const source = given('image_source');
    if (!source) throw new DeployInputError('instance_info has no image_source');
    const image = await images.getImage(source);
    kernel ??= typeof image.kernel_id === 'string' ? image.kernel_id : null;
    ramdisk ??= typeof image.ramdisk_id === 'string' ? image.ramdisk_id : null;
    // The image's own kernel command line (Glance's os_command_line, as libvirt's driver uses it).
    if (typeof image.os_command_line === 'string') cmdline = image.os_command_line;
    if (!kernel || !ramdisk) {
      throw new DeployInputError(`image ${source} (${image.disk_format ?? 'no format'}) names no kernel_id and ramdisk_id: only ami images with their aki kernel and ari ramdisk can be netbooted here`);
    }
  }
  return { kernel, ramdisk, cmdline };
}

/** The iPXE script of a netbooted instance. Without a base URL the paths are resolved by iPXE against the URL it chained from. */
export function ipxeScript(node: string, baseUrl: string, append: string): string {
  const at = (f: BootFile): string => `${baseUrl.replace(/\/+$/, '')}/nodes/${node}/${f}`;
  // No characters of ours beyond the uuid: append comes from the operator or instance_info, and a newline in it would be a command.
  const cmdline = append.replace(/[\r\n]/g, ' ');
  return `#!ipxe\necho Orrery: netbooting node ${node}\nkernel ${at('kernel')} ${cmdline}\ninitrd ${at('ramdisk')}\nboot\n`;
}

/**
 * Writes a node's boot files: kernel and ramdisk downloaded from the image API, then the
 * script. Into a fresh folder renamed into place, so a machine never fetches half a set.
 */
export async function writeBootFiles(root: string, node: string, images: ImageClient, ids: { kernel: string; ramdisk: string }, script: string): Promise<void> {
  const dir = join(root, node);
  const staging = `${dir}.staging`;
  await rm(staging, { recursive: true, force: true });
  await mkdir(staging, { recursive: true });
  try {
    for (const f of ['kernel', 'ramdisk'] as const) {
      await pipeline(Readable.from(images.downloadImage(ids[f])), createWriteStream(join(staging, f)));
    }
    await writeFile(join(staging, 'boot.ipxe'), script);
    await rm(dir, { recursive: true, force: true });
    await rename(staging, dir);
  } catch (err) {
    await rm(staging, { recursive: true, force: true });
    throw err;
  }
}

/** Removes a node's boot files (cleaning, and a failed deploy: nothing is left half-configured). */
export async function removeBootFiles(root: string, node: string): Promise<void> {
  await rm(join(root, node), { recursive: true, force: true });
  await rm(join(root, `${node}.staging`), { recursive: true, force: true });
}
