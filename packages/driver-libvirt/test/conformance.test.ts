// The libvirt driver runs the contract's conformance kit against a real libvirtd (TCG guests).
// Checks stop at "domain running": none waits for a guest to boot, so soft reboots of a guest
// still booting take the fallback to hard after wait_soft_reboot_seconds (kept short here).
//
// The move checks of contract 1.2 make a second host while the first is up: that one runs on
// host B, a second libvirtd in its own namespaces (test/libvirt/support/two-hosts.ts; without
// it, as when not root, those checks skip with the reason). Every
// host's instances_path is one shared directory (as Nova's shared instance storage), so live
// migration without block copy applies; each host keeps its own image cache and snapshot dir,
// and counts as its leftovers only the instance directories its orrery.json names it in.
// test/libvirt/moves.test.ts moves real guests with block migration between unshared paths.
import { existsSync, mkdtempSync, readdirSync, readFileSync, chmodSync, rmSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { join } from 'node:path';
import { after } from 'node:test';
import { runConformance, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { createDriver } from '@orrery/driver-libvirt';
import { guestSpec, IDS, libvirtContext, libvirtSkip, removeDomains, testImageService, uniqueHost, URI } from './support.js';
import { startHostB, twoHostsSkip, type LibvirtHostB } from '../../../test/libvirt/support/two-hosts.js';
import { removeDomainsAt } from '../../../test/libvirt/support/move-hosts.js';
// The kit's own Skip (not exported by @orrery/virt-api/conformance): the same module file the kit loads.
import { Skip } from '../../virt-api/dist/conformance-steps.js';

const skip = libvirtSkip();
const hosts: Array<{ host: string; uri: string }> = [];
const twoHosts = skip ? 'no libvirt' : twoHostsSkip();

/** What compute host `host` left behind on the libvirtd at `uri` and in its directories. */
function leftovers(host: string, uri: string, instancesPath: string, stateDir: string): string[] {
  const out = execFileSync('virsh', ['-q', '-c', uri, 'list', '--all', '--name'], { encoding: 'utf8' }).split('\n').map((s) => s.trim())
    .filter((n) => n.startsWith(`orrery-${host}-`) || n.startsWith(`orrery-probe-${host}-`)).map((d) => `domain ${d}`);
  const ls = (d: string) => (existsSync(d) ? readdirSync(d) : []);
  if (uri === URI) for (const f of ls('/var/lib/libvirt/qemu/save')) if (f.startsWith(`orrery-${host}-`)) out.push(`managed save ${f}`);
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

function fixture(): ConformanceFixture {
  const { images, root } = testImageService();
  const shared = mkdtempSync('/tmp/orrery-kit-shared-');
  chmodSync(shared, 0o755);
  after(() => rmSync(shared, { recursive: true, force: true }));
  let live = 0;
  let hostB: LibvirtHostB | null = null;
  return {
    name: 'libvirt',
    parallelSpawns: 3,
    checkTimeoutMs: 240_000,
    eventTimeoutMs: 20_000,
    sampleSpec: (node) => guestSpec(node, root),
    async create() {
      // A second host while one is up: a move check's destination, on host B when there is one.
      const onB = live > 0;
      if (onB && twoHosts !== false) throw new Skip(`the move checks need a second libvirt host: ${twoHosts}`);
      if (onB) hostB ??= await startHostB();
      const uri = onB ? hostB!.uri : URI;
      const host = uniqueHost(onB ? 'kitb' : 'kit');
      hosts.push({ host, uri });
      const { ctx, cleanup } = await libvirtContext(host, images, {
        wait_soft_reboot_seconds: '3', connection_uri: uri, live_migration_uri: uri, shutdown_timeout: '0',
        // Host A receives nothing in the kit (its guests only leave): any address of it will do.
        migration_address: onB ? hostB!.address : '127.0.0.1',
        instances_path: join(shared, 'instances'),
      });
      ctx.config['image_cache_path'] = join(ctx.stateDir, '_base');
      ctx.config['snapshots_directory'] = join(ctx.stateDir, 'snapshots');
      live++;
      return {
        driver: createDriver(),
        ctx,
        reopen: () => createDriver(),
        async cleanup() {
          live--;
          removeDomainsAt(uri, host);
          await cleanup();
        },
        // QEMU refuses this kernel at start: the overlay and the domain exist by then.
        async failSpawn(node) {
          return guestSpec(node, { ...root, properties: { ...root.properties, kernel_id: IDS.badKernel } });
        },
        async externalLeaks() {
          return leftovers(host, uri, join(shared, 'instances'), ctx.stateDir);
        },
      };
    },
  };
}

if (skip) {
  const { it } = await import('node:test');
  it('libvirt driver conformance', { skip }, () => {});
} else {
  runConformance(fixture());
  after(() => {
    for (const h of hosts) (h.uri === URI ? removeDomains(h.host) : removeDomainsAt(h.uri, h.host));
  });
}
