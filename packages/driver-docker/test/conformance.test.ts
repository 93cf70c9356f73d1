// The Docker driver runs the contract's conformance kit against a real Docker daemon, with a
// locally built busybox image (test/support/busybox-image.ts). The move checks of contract 1.2
// skip (the driver declares no moves); the VIF checks of 1.3 make bridges and veths, so
// vifs.test.ts runs them on a host in a network namespace of its own.
import { after } from 'node:test';
import { runConformance, Skip, createTestContext, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { createDriver } from '@orrery/driver-docker';
import { dockerSkip } from './support/docker.js';
import { busyboxImages, containerSpec, leftovers, removeHost, uniqueHost } from './support/fixture.js';

const skip = dockerSkip();
const hosts: string[] = [];

async function fixture(): Promise<ConformanceFixture> {
  const { images, busybox, broken } = await busyboxImages();
  return {
    name: 'docker',
    parallelSpawns: 4,
    checkTimeoutMs: 90_000,
    eventTimeoutMs: 10_000,
    sampleSpec: (node) => containerSpec(node, busybox),
    samplePorts() {
      throw new Skip('the VIF checks make veths and bridges: packages/driver-docker/test/vifs.test.ts runs them in a namespace of its own');
    },
    async create() {
      const host = uniqueHost('kit');
      hosts.push(host);
      const { ctx, cleanup } = await createTestContext({ host, images });
      return {
        driver: createDriver(),
        ctx,
        reopen: () => createDriver(),
        async cleanup() {
          removeHost(host);
          await cleanup();
        },
        // The image loads, the container is created, its start fails: the command does not exist.
        async failSpawn(node) {
          return containerSpec(node, broken);
        },
        async externalLeaks() {
          return leftovers(host, ctx.stateDir);
        },
      };
    },
  };
}

if (skip) {
  const { it } = await import('node:test');
  it('docker driver conformance', { skip }, () => {});
} else {
  runConformance(await fixture());
  after(() => {
    for (const h of hosts) removeHost(h);
  });
}
