// The conformance kit's move checks (contract 1.2) against two libvirt hosts of this machine:
// host A the machine's libvirtd, host B a second libvirtd in its own namespaces
// (support/two-hosts.ts). The rest of the kit runs against libvirt in the driver package's own
// conformance test, which skips these; here the other checks skip (a check that is not a
// move check starts its host with the fixture's image service, a move check with the kit's
// transfer image store over it).
//
// Every host's instances_path is one shared directory (as Nova's shared instance storage), so
// the kit's live migrations without block copy apply; each host keeps its own image cache and
// snapshot dir, and counts as its leftovers only the instance directories its orrery.json
// names it in. moves.test.ts moves real guests with block migration between unshared paths.
import { chmodSync, existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after, it } from 'node:test';
import type { DriverContext, InstanceSpec } from '@orrery/virt-api';
import { createTestContext, runConformance, Skip, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { LibvirtDriver } from '@orrery/driver-libvirt';
import { LIBVIRT_URI, libvirtSkip, removeDomainsOf } from './support/libvirt.js';
import { moveImages, smallGuest } from './support/move-images.js';
import { removeDomainsAt } from './support/move-hosts.js';
import { startHostB, twoHostsSkip, type LibvirtHostB } from './support/two-hosts.js';

const skip = libvirtSkip() || twoHostsSkip();
const hosts: Array<{ host: string; uri: string }> = [];

/** What compute host `host` left behind on the libvirtd at `uri` and in its directories. */
function leftovers(host: string, uri: string, instancesPath: string, stateDir: string): string[] {
  const out = execFileSync('virsh', ['-q', '-c', uri, 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').map((s) => s.trim())
    .filter((n) => n.startsWith(`orrery-${host}-`) || n.startsWith(`orrery-probe-${host}-`)).map((d) => `domain ${d}`);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  if (uri === LIBVIRT_URI) for (const f of ls('/var/lib/libvirt/qemu/save')) if (f.startsWith(`orrery-${host}-`)) out.push(`managed save ${f}`);
  for (const f of ls(instancesPath)) {
    let owner: string | null = null;
    try {
      owner = (JSON.parse(readFileSync(join(instancesPath, f, 'orrery.json'), 'utf8')) as { host?: string }).host ?? null;
    } catch {
      // no record: nobody's, so everybody's leak
    }
    if (owner === null || owner === host) out.push(`instance files ${f}`);
  }
  for (const f of ls(join(stateDir, '_base'))) if (f.includes('.part-')) out.push(`partial download ${f}`);
  for (const f of ls(join(stateDir, 'snapshots'))) out.push(`snapshot scratch file ${f}`);
  for (const f of ls(join(stateDir, 'moves'))) out.push(`move record ${f}`);
  return out;
}

/** The libvirt driver, refusing (Skip) to start for a check that is not a move check. */
class MoveChecksOnly extends LibvirtDriver {
  override async init(ctx: DriverContext): Promise<void> {
    // The move checks hand both hosts the kit's transfer image store (it keeps uploads in `own`).
    if (!('own' in ctx.images)) throw new Skip('not a move check: packages/driver-libvirt/test/conformance.test.ts runs it');
    return super.init(ctx);
  }
}

function fixture(): ConformanceFixture {
  const { images, root } = moveImages();
  const shared = mkdtempSync('/tmp/orrery-kit-shared-');
  chmodSync(shared, 0o755);
  after(() => rmSync(shared, { recursive: true, force: true }));
  let live = 0;
  let hostB: LibvirtHostB | null = null;
  return {
    name: 'libvirt on two hosts',
    checkTimeoutMs: 240_000,
    eventTimeoutMs: 20_000,
    sampleSpec: (node): InstanceSpec => smallGuest(node.name, root),
    async create() {
      // A second host while one is up: a move check's destination, on host B.
      const onB = live > 0;
      if (onB) hostB ??= await startHostB();
      const uri = onB ? hostB!.uri : LIBVIRT_URI;
      const host = `${onB ? 'kmb' : 'kma'}-${Math.random().toString(16).slice(2, 8)}`;
      hosts.push({ host, uri });
      const { ctx, cleanup } = await createTestContext({
        host, images, config: {
          connection_uri: uri, live_migration_uri: uri, image_cache_manager_interval: '0', shutdown_timeout: '0',
          // Host A receives nothing in the kit (its guests only leave): any address of it will do.
          migration_address: onB ? hostB!.address : '127.0.0.1',
          instances_path: join(shared, 'instances'),
        },
      });
      chmodSync(ctx.stateDir, 0o755);
      ctx.config['image_cache_path'] = join(ctx.stateDir, '_base');
      ctx.config['snapshots_directory'] = join(ctx.stateDir, 'snapshots');
      live++;
      return {
        driver: new MoveChecksOnly(),
        ctx,
        reopen: () => new MoveChecksOnly(),
        async cleanup() {
          live--;
          removeDomainsAt(uri, host);
          await cleanup();
        },
        async externalLeaks() {
          return leftovers(host, uri, join(shared, 'instances'), ctx.stateDir);
        },
      };
    },
  };
}

if (skip) {
  it('libvirt driver conformance: the move checks on two hosts', { skip }, () => {});
} else {
  runConformance(fixture());
  after(() => {
    for (const h of hosts) (h.uri === LIBVIRT_URI ? removeDomainsOf(h.host) : removeDomainsAt(h.uri, h.host));
  });
}
