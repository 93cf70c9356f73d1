// The libvirt driver runs the contract's conformance kit against a real libvirtd (TCG guests).
// Checks stop at "domain running": none waits for a guest to boot, so soft reboots of a guest
// still booting take the fallback to hard after wait_soft_reboot_seconds (kept short here).
// The move checks of contract 1.2 need a second host on another libvirtd: they skip here, and
// test/libvirt/conformance-moves.test.ts runs them against two libvirt hosts; the VIF checks of
// 1.3 make bridges, so test/libvirt/conformance-vifs.test.ts runs them on a host in its own namespace.
import { after } from 'node:test';
import { runConformance, Skip, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { createDriver } from '@orrery/driver-libvirt';
import { guestSpec, IDS, leftovers, libvirtContext, libvirtSkip, removeDomains, testImageService, uniqueHost } from './support.js';

const skip = libvirtSkip();
const hosts: string[] = [];

function fixture(): ConformanceFixture {
  const { images, root } = testImageService();
  let live = 0;
  return {
    name: 'libvirt',
    parallelSpawns: 3,
    checkTimeoutMs: 180_000,
    eventTimeoutMs: 20_000,
    sampleSpec: (node) => guestSpec(node, root),
    // Plugging makes bridges in the host's network namespace: here that is the machine's own.
    samplePorts() {
      throw new Skip('the VIF checks run against a host in a namespace of its own: test/libvirt/conformance-vifs.test.ts');
    },
    async create() {
      // A second host while one is up: a move check's destination.
      if (live > 0) throw new Skip('the move checks need a second libvirt host: test/libvirt/conformance-moves.test.ts runs them');
      const host = uniqueHost('kit');
      hosts.push(host);
      const { ctx, cleanup } = await libvirtContext(host, images, { wait_soft_reboot_seconds: '3' });
      live++;
      const instancesPath = `${ctx.stateDir}/instances`;
      return {
        driver: createDriver(),
        ctx,
        reopen: () => createDriver(),
        async cleanup() {
          live--;
          removeDomains(host);
          await cleanup();
        },
        // QEMU refuses this kernel at start: the overlay and the domain exist by then.
        async failSpawn(node) {
          return guestSpec(node, { ...root, properties: { ...root.properties, kernel_id: IDS.badKernel } });
        },
        async externalLeaks() {
          return leftovers(host, instancesPath);
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
    for (const h of hosts) removeDomains(h);
  });
}
