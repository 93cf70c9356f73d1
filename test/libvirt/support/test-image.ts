import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { repoRoot } from '../../../harness/repo.js';
import { openstackJson } from '../../support/openstack-cli.js';

/** What the test guest prints on its serial console once its init is done. */
export const BOOT_MARKER = 'ORRERY-GUEST-BOOTED';

export interface TestImageFiles {
  /** The Debian kernel (an aki image). */
  kernel: string;
  /** busybox initramfs with the guest's /init (an ari image). */
  ramdisk: string;
  /** 1 MiB raw root disk the guest keeps its token on (an ami image). */
  disk: string;
}

/**
 * Builds the test guest with scripts/build-test-image.sh (from Debian packages only; cached in
 * /var/cache/orrery-test-image or $ORRERY_TEST_IMAGE_DIR, so a rerun is instant).
 */
export function buildTestImage(): TestImageFiles {
  const out = execFileSync(join(repoRoot(), 'scripts/build-test-image.sh'), { encoding: 'utf8', timeout: 300_000 });
  const dir = out.trim().split('\n').at(-1)!;
  return { kernel: join(dir, 'vmlinuz'), ramdisk: join(dir, 'initramfs.img'), disk: join(dir, 'disk.raw') };
}

export interface UploadedTestImage {
  /** The bootable ami image (its kernel_id / ramdisk_id properties name the other two). */
  imageId: string;
  kernelId: string;
  ramdiskId: string;
}

/**
 * Uploads the test guest through the `openstack` CLI as Glance and Nova know it: a kernel (aki),
 * a ramdisk (ari) and a machine image (ami) whose properties reference them. `cmdline` becomes
 * os_command_line (add `orrery.acpi=ignore` for a guest that ignores the ACPI power button).
 */
export async function uploadTestImage(
  env: Record<string, string>,
  name = 'orrery-test-guest',
  cmdline = 'console=ttyS0 quiet',
): Promise<UploadedTestImage> {
  const files = buildTestImage();
  const create = async (args: string[]) => String((await openstackJson<{ id: string }>(['image', 'create', ...args], env)).id);
  const kernelId = await create(['--disk-format', 'aki', '--container-format', 'aki', '--file', files.kernel, `${name}-kernel`]);
  const ramdiskId = await create(['--disk-format', 'ari', '--container-format', 'ari', '--file', files.ramdisk, `${name}-ramdisk`]);
  const imageId = await create([
    '--disk-format', 'ami', '--container-format', 'ami', '--file', files.disk,
    '--property', `kernel_id=${kernelId}`, '--property', `ramdisk_id=${ramdiskId}`, '--property', `os_command_line=${cmdline}`,
    name,
  ]);
  return { imageId, kernelId, ramdiskId };
}
