// The contract 1.3 checks of the conformance kit (plug/unplug idempotence, the guest's NICs in
// order, live attach/detach) against the libvirt driver on a host in a network namespace of its
// own (support/net-hosts.ts): plugging makes bridges in the host's namespace, never the machine's.
import { execFileSync } from 'node:child_process';
import { after } from 'node:test';
import { runConformance, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { LibvirtDriver } from '@orrery/driver-libvirt';
import { moveImages, smallGuest } from './support/move-images.js';
import { removeDomainsAt } from './support/move-hosts.js';
import { netHostsSkip, startNetHosts, type NetFabric } from './support/net-hosts.js';

const skip = netHostsSkip();
const silent = { debug() {}, info() {}, warn() {}, error() {} };

if (skip) {
  const { it } = await import('node:test');
  it('libvirt driver conformance, contract 1.3 (VIFs)', { skip }, () => {});
} else {
  let fabric: NetFabric | null = null;
  let made = 0;
  const { images, root } = moveImages();
  const fixture: ConformanceFixture = {
    name: 'libvirt in a host namespace',
    only: /^1\.3/,
    checkTimeoutMs: 180_000,
    eventTimeoutMs: 20_000,
    sampleSpec: (node) => smallGuest(node.name, root),
    async create() {
      fabric ??= await startNetHosts(1, 'hk');
      const h = fabric.hosts[0]!;
      // Each check a compute host of its own on the one libvirtd (domain names carry the host).
      const name = `${h.name}-${++made}`;
      const virsh = (...args: string[]) => execFileSync('virsh', ['-q', '-c', h.uri, ...args], { encoding: 'utf8' });
      return {
        driver: new LibvirtDriver(),
        ctx: {
          host: name, stateDir: `${h.stateDir}/${name}`, images, log: silent,
          config: { connection_uri: h.uri, host_netns: h.netnsPath, instances_path: `${h.instancesPath}/${name}`, image_cache_manager_interval: '0' },
        },
        async cleanup() {
          removeDomainsAt(h.uri, name);
        },
        async guestMacs(ref) {
          const out = virsh('domiflist', `orrery-${name}-${ref.uuid}`);
          return out.split('\n').map((l) => /([0-9a-f]{2}(?::[0-9a-f]{2}){5})\s*$/i.exec(l.trim())?.[1]).filter((m): m is string => !!m);
        },
        async externalLeaks() {
          const domains = virsh('list', '--all', '--name').split('\n').map((s) => s.trim()).filter((d) => d.startsWith(`orrery-${name}-`));
          // Taps nobody holds: what unplugVifs must remove (taps of running guests have carrier).
          const taps = h.exec('ip', ['-o', 'link', 'show', 'type', 'tun']).split('\n').filter((l) => /NO-CARRIER/.test(l));
          return [...domains.map((d) => `domain ${d}`), ...taps.map((t) => `tap left ${t.split(':')[1]?.trim()}`)];
        },
      };
    },
  };
  runConformance(fixture);
  after(() => fabric?.stop());
}
