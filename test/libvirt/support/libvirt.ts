import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { backendSkip } from '../../support/backends.js';

export const LIBVIRT_URI = process.env.ORRERY_LIBVIRT_URI ?? 'qemu:///system';

function libvirtWorks(): boolean {
  try {
    execFileSync('virsh', ['-q', '-c', LIBVIRT_URI, 'version'], { stdio: 'ignore', timeout: 20_000 });
    return true;
  } catch {
    return false;
  }
}

/** Skip reason without libvirt (a failure under ORRERY_REQUIRE_BACKENDS=1); scripts/ci-libvirt.sh sets it up. */
export function libvirtSkip(): string | false {
  return backendSkip(`libvirt (virsh -c ${LIBVIRT_URI} version)`, libvirtWorks());
}

const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', LIBVIRT_URI, ...args], { encoding: 'utf8' });

/** The libvirt domains of compute host `host` (instances and event-stream probes). */
export function domainsOf(host: string): string[] {
  return virsh('list', '--all', '--name').split('\n').map((s) => s.trim())
    .filter((n) => n.startsWith(`orrery-${host}-`) || n.startsWith(`orrery-probe-${host}-`));
}

/** What compute host `host` left behind: domains, managed saves, instance files, partial downloads, snapshot scratch files. */
export function libvirtLeftovers(host: string, instancesPath: string): string[] {
  const out = domainsOf(host).map((d) => `domain ${d}`);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  for (const f of ls('/var/lib/libvirt/qemu/save')) if (f.startsWith(`orrery-${host}-`)) out.push(`managed save ${f}`);
  for (const f of ls(instancesPath)) if (f !== '_base' && f !== 'snapshots') out.push(`instance files ${f}`);
  for (const f of ls(join(instancesPath, '_base'))) if (f.includes('.part-')) out.push(`partial download ${f}`);
  for (const f of ls(join(instancesPath, 'snapshots'))) out.push(`snapshot scratch file ${f}`);
  return out;
}

/** Removes every domain of `host` (cleanup after a failed test: libvirt outlives the test). */
export function removeDomainsOf(host: string): void {
  for (const d of domainsOf(host)) {
    for (const args of [['destroy', d], ['undefine', '--managed-save', d]]) {
      try {
        virsh(...args);
      } catch {
        // not running / already gone
      }
    }
  }
}
