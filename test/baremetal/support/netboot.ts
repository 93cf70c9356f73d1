import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { api, type Session } from '../../support/http.js';

/** A netbootable instance image as Glance links one: an ami naming its aki kernel and ari ramdisk. */
export interface NetbootImage {
  imageId: string;
  kernelBytes: Buffer;
}

/**
 * Uploads kernel, ramdisk and ami images (public, so the conductor's service user reads them):
 * tiny made-up ones, or a real kernel and initramfs (the test guest's).
 */
export async function uploadNetbootImage(
  imageUrl: string, admin: Session, cmdline = 'console=ttyS0 orrery.test', files?: { kernel: Buffer; ramdisk: Buffer },
): Promise<NetbootImage> {
  const upload = async (format: string, data: Buffer, props: Record<string, unknown> = {}): Promise<string> => {
    const made = await api(admin, 'POST', `${imageUrl}/v2/images`, { name: `bm-${format}`, container_format: format, disk_format: format, visibility: 'public', ...props });
    assert.equal(made.status, 201, JSON.stringify(made.body));
    const put = await api(admin, 'PUT', `${imageUrl}/v2/images/${made.body.id}/file`, data, { 'content-type': 'application/octet-stream' });
    assert.equal(put.status, 204);
    return made.body.id as string;
  };
  const kernelBytes = files?.kernel ?? Buffer.from(`kernel-${randomUUID()}`);
  const kernel = await upload('aki', kernelBytes);
  const ramdisk = await upload('ari', files?.ramdisk ?? Buffer.from('ramdisk-bytes'));
  const imageId = await upload('ami', Buffer.from('disk'), { kernel_id: kernel, ramdisk_id: ramdisk, os_command_line: cmdline });
  return { imageId, kernelBytes };
}

/**
 * What a machine's iPXE does (the real rig's QEMU guests do it in test/baremetal/support/rig.ts):
 * chain its script by MAC from the boot server, then fetch the kernel and initrd it names.
 * Answers the script; checks the kernel is the image's.
 */
export async function netboot(bootServer: string, mac: string, kernelBytes: Buffer): Promise<string> {
  // As iPXE sends `${net0/mac}` in a URL: its colons percent-encoded.
  const first = `${bootServer}/ipxe/${encodeURIComponent(mac)}`;
  const res = await fetch(first);
  assert.equal(res.status, 200, `no iPXE script for ${mac}`);
  const script = await res.text();
  const urls = [...script.matchAll(/^(?:kernel|initrd) (\S+)/gm)].map((m) => new URL(m[1]!, first).href);
  assert.equal(urls.length, 2, script);
  assert.deepEqual(Buffer.from(await (await fetch(urls[0]!)).arrayBuffer()), kernelBytes);
  await (await fetch(urls[1]!)).arrayBuffer();
  return script;
}
