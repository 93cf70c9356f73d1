// Contract 1.3's VIFs on real containers, with the host's bridges in a network namespace this
// test makes (`[docker] host_netns`), so nothing touches the machine's own links: the kit's VIF
// checks (the container holds its ports' MACs in order), and two containers on one bridge
// reaching each other at their ports' addresses, again after a reboot (a new netns each start).
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { after, before, describe, it } from 'node:test';
import { bridgeNameOf, tapNameOf, type InstanceSpec, type VifInfo } from '@orrery/virt-api';
import { createTestContext, runConformance, sampleVifs, type ConformanceFixture } from '@orrery/virt-api/conformance';
import { createDriver, DockerDriver } from '@orrery/driver-docker';
import { dockerSkip } from './support/docker.js';
import { busyboxImages, containerSpec, leftovers, removeHost, uniqueHost, waitFor } from './support/fixture.js';

const skip = dockerSkip() || (process.getuid?.() !== 0 ? 'the VIF tests make network namespaces: they need root' : false);
const netnsName = `dkv-${randomBytes(3).toString('hex')}`;
const hostNetns = `/run/netns/${netnsName}`;
const hosts: string[] = [];
const inNs = (...args: string[]) => execFileSync('ip', ['-n', netnsName, ...args], { encoding: 'utf8' });

if (skip) {
  const { it } = await import('node:test');
  it('docker driver VIFs', { skip }, () => {});
} else {
  execFileSync('ip', ['netns', 'add', netnsName]);
  after(() => {
    for (const h of hosts) removeHost(h);
    execFileSync('ip', ['netns', 'del', netnsName]);
  });
  const { images, busybox } = await busyboxImages();

  const fixture: ConformanceFixture = {
    name: 'docker (VIFs)',
    only: /^1\.3:/,
    checkTimeoutMs: 90_000,
    eventTimeoutMs: 10_000,
    sampleSpec: (node) => containerSpec(node, busybox),
    async create() {
      const host = uniqueHost('kitv');
      hosts.push(host);
      const { ctx, cleanup } = await createTestContext({ host, images, config: { host_netns: hostNetns } });
      const driver = createDriver() as DockerDriver;
      return {
        driver, ctx,
        async cleanup() {
          removeHost(host);
          await cleanup();
        },
        guestMacs: (ref) => driver.guestMacs(ref),
        async externalLeaks() {
          const taps = inNs('-o', 'link', 'show', 'type', 'veth').split('\n').filter(Boolean);
          return [...leftovers(host, ctx.stateDir), ...taps.map((t) => `veth ${t}`)];
        },
      };
    },
  };
  runConformance(fixture);

  describe('docker driver: containers on one bridge', { timeout: 3 * 60_000 }, () => {
    const host = uniqueHost('dkv');
    hosts.push(host);
    let driver: DockerDriver;
    let cleanup: () => Promise<void>;
    let node: string;
    const networkId = randomUUID();
    const ports: VifInfo[] = sampleVifs(2, networkId);

    before(async () => {
      const made = await createTestContext({ host, images, config: { host_netns: hostNetns } });
      cleanup = made.cleanup;
      driver = new DockerDriver();
      await driver.init(made.ctx);
      node = (await driver.listNodes())[0]!.name;
    });
    after(async () => {
      await driver?.shutdown();
      await cleanup?.();
    });

    const ping = (from: InstanceSpec, to: string) =>
      execFileSync('docker', ['exec', driver.containerName(from.uuid), 'ping', '-c', '1', '-W', '2', to], { encoding: 'utf8' });

    it('two containers reach each other at their ports\' addresses, also after a reboot and a start behind the driver\'s back', async () => {
      const [pa, pb] = ports as [VifInfo, VifInfo];
      const a = containerSpec(node, busybox, { network: { ports: [pa] } });
      const b = containerSpec(node, busybox, { network: { ports: [pb] } });
      for (const s of [a, b]) {
        await driver.plugVifs({ uuid: s.uuid, node }, s.network.ports);
        await driver.spawn(s);
      }
      assert.match(inNs('link', 'show', 'dev', tapNameOf(pa.id)), new RegExp(`master ${bridgeNameOf(networkId)}`));
      assert.deepEqual(await driver.guestMacs({ uuid: a.uuid, node }), [pa.mac]);
      assert.match(ping(a, pb.fixedIps[0]!), /1 packets received/);
      await driver.reboot({ uuid: b.uuid, node }, 'hard');
      await waitFor('b to answer after its reboot', 20_000, () => {
        try {
          return /1 packets received/.test(ping(a, pb.fixedIps[0]!));
        } catch {
          return false;
        }
      });
      // Stopped and started behind the driver's back: its start event has the ports wired again.
      execFileSync('docker', ['stop', '-t', '0', driver.containerName(b.uuid)]);
      execFileSync('docker', ['start', driver.containerName(b.uuid)]);
      await waitFor('b to answer after a start outside the driver', 20_000, () => {
        try {
          return /1 packets received/.test(ping(a, pb.fixedIps[0]!));
        } catch {
          return false;
        }
      });
      for (const s of [a, b]) {
        await driver.destroy({ uuid: s.uuid, node });
        await driver.unplugVifs({ uuid: s.uuid, node }, s.network.ports);
      }
      assert.equal(inNs('-o', 'link', 'show', 'type', 'veth').trim(), '', 'no veth left');
    });
  });
}
