// Two libvirt driver instances on the two hosts of two-hosts.ts, for move tests and the bench:
// compute host A on the machine's libvirtd, compute host B on host B's. Each has its own state
// dir and instances path under the scratch directory both hosts see (so a block migration has
// somewhere to go and the source's files stay the source's).
import { chmodSync, mkdirSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import type { DriverContext, ImageService } from '@orrery/virt-api';
import { LibvirtDriver } from '@orrery/driver-libvirt';
import { LIBVIRT_URI, libvirtLeftovers, removeDomainsOf } from './libvirt.js';
import { startHostB, type LibvirtHostB } from './two-hosts.js';
import { execFileSync } from 'node:child_process';

export interface MoveHost {
  name: string;
  driver: LibvirtDriver;
  ctx: DriverContext;
  uri: string;
  instancesPath: string;
  /** Domains, managed saves and instance files this compute host left behind. */
  leftovers(): string[];
}

const silent = { debug() {}, info() {}, warn() {}, error() {} };

function hostConfig(dir: string, uri: string, address: string, extra: Record<string, string>): Record<string, string> {
  return {
    connection_uri: uri, live_migration_uri: uri, migration_address: address, instances_path: join(dir, 'instances'),
    image_cache_manager_interval: '0', ...extra,
  };
}

/** A driver context for compute host `name` whose files live in `dir` (readable by QEMU). */
export function moveContext(name: string, dir: string, images: ImageService, config: Record<string, string>): DriverContext {
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  chmodSync(dir, 0o755);
  return { host: name, config, stateDir: dir, images, log: silent } as DriverContext;
}

/** Lists what compute host `name` left on the libvirtd at `uri`. */
function leftoversOn(uri: string, name: string, instancesPath: string): string[] {
  if (uri === LIBVIRT_URI) return libvirtLeftovers(name, instancesPath);
  const domains = execFileSync('virsh', ['-q', '-c', uri, 'list', '--all', '--name'], { encoding: 'utf8' })
    .split('\n').map((s) => s.trim()).filter((n) => n.startsWith(`orrery-${name}-`));
  return [...domains.map((d) => `domain ${d}`), ...libvirtLeftovers(`${name}-none-${randomBytes(2).toString('hex')}`, instancesPath)];
}

/** Removes every domain of compute host `name` from the libvirtd at `uri`. */
export function removeDomainsAt(uri: string, name: string): void {
  if (uri === LIBVIRT_URI) return removeDomainsOf(name);
  const domains = execFileSync('virsh', ['-q', '-c', uri, 'list', '--all', '--name'], { encoding: 'utf8' })
    .split('\n').map((s) => s.trim()).filter((n) => n.startsWith(`orrery-${name}-`));
  for (const d of domains) {
    for (const args of [['destroy', d], ['undefine', '--managed-save', d]]) {
      try {
        execFileSync('virsh', ['-q', '-c', uri, ...args], { stdio: 'ignore' });
      } catch {
        // not running / gone
      }
    }
  }
}

/** Compute hosts A and B, their drivers started; `stop()` shuts them down and removes their domains (host B stays up). */
export async function startMoveHosts(images: ImageService, extra: Record<string, string> = {}): Promise<{
  a: MoveHost; b: MoveHost; hostB: LibvirtHostB; stop(): Promise<void>;
}> {
  const hostB = await startHostB();
  const tag = randomBytes(3).toString('hex');
  const made: MoveHost[] = [];
  for (const [side, uri, address] of [['a', LIBVIRT_URI, hostB.peerAddress], ['b', hostB.uri, hostB.address]] as const) {
    const name = `mv${side}-${tag}`;
    const dir = join(hostB.scratch, name);
    const config = hostConfig(dir, uri, address, extra);
    const ctx = moveContext(name, dir, images, config);
    const driver = new LibvirtDriver();
    await driver.init(ctx);
    const instancesPath = config['instances_path']!;
    made.push({ name, driver, ctx, uri, instancesPath, leftovers: () => leftoversOn(uri, name, instancesPath) });
  }
  const [a, b] = made as [MoveHost, MoveHost];
  return {
    a, b, hostB,
    async stop() {
      for (const h of [a, b]) {
        await h.driver.shutdown().catch(() => undefined);
        removeDomainsAt(h.uri, h.name);
      }
    },
  };
}
