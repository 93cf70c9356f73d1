// The fake driver's VIF calls (contract 1.3) behind the guard, as the compute service makes
// them: what it records (plugs, bridges, the NICs each guest holds, every call), faults on them,
// the capability switched off, and the NICs following a guest through cold and live moves.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { describe, it } from 'node:test';
import { capabilityTraits, guardDriver, type GuardedVirtDriver, type InstanceSpec, type MoveRef, type VifInfo } from '@orrery/virt-api';
import { createTestContext, MemoryImageService, sampleInstanceSpec, sampleVifs } from '@orrery/virt-api/conformance';
import { code } from './outcome.js';
import { createDriver, fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';

async function host(name: string, images: MemoryImageService, config: Record<string, string> = {}) {
  const { ctx, cleanup } = await createTestContext({ host: name, images, config: { watch_interval_ms: '0', live_migration_ms: '20', ...config } });
  const driver: GuardedVirtDriver = guardDriver(createDriver());
  await driver.init(ctx);
  const backend: FakeBackend = openFakeBackend(fakeBackendPath(ctx.stateDir, name));
  const node = (await driver.listNodes())[0]!;
  return {
    driver, backend, node: node.name,
    spec: (ports: VifInfo[]): InstanceSpec => ({ ...sampleInstanceSpec(node, driver.capabilities()), network: { ports } }),
    macs: (uuid: string) => backend.vifs.nics(uuid).map((n) => n.mac),
    async done() {
      await driver.shutdown();
      backend.close();
      await cleanup();
    },
  };
}

const moveOf = (s: InstanceSpec, node: string, migrationId: string): MoveRef => ({ instance: { uuid: s.uuid, node }, migrationId });

describe('fake driver: VIFs (contract 1.3)', () => {
  it('records plugs, bridges, NICs and every call; attach and detach change the NICs; faults strike', async () => {
    const h = await host('a', new MemoryImageService());
    assert.equal(h.driver.contract.version, '1.4');
    assert.ok(capabilityTraits(h.driver.capabilities()).includes('COMPUTE_NET_ATTACH_DETACH'));
    const ports = sampleVifs(2);
    const [p0, p1] = ports as [VifInfo, VifInfo];
    const s = h.spec([p0]);
    const ref = { uuid: s.uuid, node: s.node };
    h.backend.injectFault({ op: 'plugVifs', code: 'BackendUnavailable' });
    assert.equal(await code(h.driver.plugVifs(ref, [p0])), 'BackendUnavailable');
    assert.deepEqual(h.backend.vifs.plugged(s.uuid), []);
    await h.driver.plugVifs(ref, [p0]);
    await h.driver.plugVifs(ref, [p0]);
    assert.deepEqual(h.backend.vifs.plugged(s.uuid), [p0.id]);
    assert.deepEqual(h.backend.vifs.bridges(), [p0.bridge]);
    await h.driver.spawn(s);
    assert.deepEqual(h.backend.vifs.nics(s.uuid), [p0], 'the NIC keeps every 1.3 field');
    await h.driver.plugVifs(ref, [p1]);
    await h.driver.attachInterface(ref, p1);
    await h.driver.attachInterface(ref, p1);
    assert.deepEqual(h.macs(s.uuid), [p0.mac, p1.mac]);
    assert.equal(await code(h.driver.attachInterface(ref, { ...p1, mac: 'fa:16:3e:00:00:01' })), 'NotSupported', 'the same port with another MAC');
    await h.driver.detachInterface(ref, p0);
    assert.deepEqual(h.macs(s.uuid), [p1.mac]);
    await h.driver.attachInterface(ref, p0);
    assert.deepEqual(h.macs(s.uuid), [p1.mac, p0.mac], 'a NIC attached again comes last');
    await h.driver.destroy(ref);
    assert.deepEqual(h.backend.vifs.nics(s.uuid), []);
    await h.driver.unplugVifs(ref, ports);
    assert.deepEqual(h.backend.vifs.plugged(s.uuid), []);
    assert.deepEqual(h.backend.vifs.bridges(), [p0.bridge], 'bridges stay: the network agent owns them');
    assert.deepEqual(h.backend.vifs.calls(s.uuid).map((c) => [c.op, c.portId]), [
      ['plugVifs', p0.id], ['plugVifs', p0.id], ['plugVifs', p1.id], ['attachInterface', p1.id], ['attachInterface', p1.id],
      ['detachInterface', p0.id], ['attachInterface', p0.id], ['unplugVifs', p0.id], ['unplugVifs', p1.id],
    ]);
    assert.equal(await code(h.driver.attachInterface({ uuid: randomUUID(), node: s.node }, p0)), 'InstanceNotFound');
    assert.deepEqual(h.backend.vifs.leftovers(), []);
    await h.done();
  });

  it('without interfaceAttach ([fake] unsupported) refuses attach and detach, and has no trait', async () => {
    const h = await host('a', new MemoryImageService(), { unsupported: 'interfaceAttach' });
    const [p] = sampleVifs(1) as [VifInfo];
    const s = h.spec([p]);
    await h.driver.spawn(s);
    assert.equal(h.driver.supports('attachInterface'), false);
    assert.ok(!capabilityTraits(h.driver.capabilities()).includes('COMPUTE_NET_ATTACH_DETACH'));
    assert.equal(await code(h.driver.attachInterface({ uuid: s.uuid, node: s.node }, p)), 'NotSupported');
    await h.driver.plugVifs({ uuid: s.uuid, node: s.node }, [p]);
    await h.done();
  });

  it('moves the NICs with the guest: cold (revert keeps them on the source) and live (rollback leaves the destination clean)', async () => {
    const images = new MemoryImageService();
    const a = await host('a', images);
    const b = await host('b', images);
    const ports = sampleVifs(2);
    const s = a.spec(ports);
    await a.driver.spawn(s);
    // cold, reverted
    const id = randomUUID();
    await a.driver.migrateDiskAndPowerOff({ move: moveOf(s, s.node, id), transfer: { imageId: `t-${id}`, diskFormat: 'raw' } });
    const transfer = { ...s.image, id: `t-${id}`, name: `t-${id}` };
    await b.driver.finishMigration({ move: moveOf(s, b.node, id), instance: { ...s, node: b.node }, transfer, sourceNode: s.node, powerOn: true });
    assert.deepEqual(b.macs(s.uuid), ports.map((p) => p.mac));
    await b.driver.revertMigration(moveOf(s, b.node, id));
    assert.deepEqual(b.backend.vifs.nics(s.uuid), []);
    await a.driver.finishRevertMigration(moveOf(s, s.node, id), true);
    assert.deepEqual(a.macs(s.uuid), ports.map((p) => p.mac));
    // cold, confirmed
    const id2 = randomUUID();
    await a.driver.migrateDiskAndPowerOff({ move: moveOf(s, s.node, id2), transfer: { imageId: `t-${id2}`, diskFormat: 'raw' } });
    await b.driver.finishMigration({
      move: moveOf(s, b.node, id2), instance: { ...s, node: b.node }, transfer: { ...transfer, id: `t-${id2}` }, sourceNode: s.node, powerOn: true,
    });
    await a.driver.confirmMigration(moveOf(s, s.node, id2));
    assert.deepEqual([a.backend.vifs.nics(s.uuid), b.macs(s.uuid)], [[], ports.map((p) => p.mac)]);
    // live back to a, rolled back once, then done
    const id3 = randomUUID();
    await a.driver.preLiveMigration({ move: moveOf(s, a.node, id3), instance: { ...s, node: a.node }, blockMigration: true });
    await a.driver.rollbackLiveMigrationAtDestination(moveOf(s, a.node, id3));
    assert.deepEqual(a.backend.vifs.nics(s.uuid), []);
    const id4 = randomUUID();
    const target = await a.driver.preLiveMigration({ move: moveOf(s, a.node, id4), instance: { ...s, node: a.node }, blockMigration: true });
    await b.driver.liveMigration({ move: moveOf(s, b.node, id4), target, blockMigration: true });
    await a.driver.postLiveMigrationAtDestination(moveOf(s, a.node, id4));
    await b.driver.postLiveMigrationAtSource(moveOf(s, b.node, id4));
    assert.deepEqual([a.macs(s.uuid), b.backend.vifs.nics(s.uuid)], [ports.map((p) => p.mac), []]);
    assert.deepEqual([a.backend.vifs.leftovers(), b.backend.vifs.leftovers()], [[], []]);
    await a.done();
    await b.done();
  });
});
