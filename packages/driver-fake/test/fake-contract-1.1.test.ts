// The fake driver's contract 1.1: status from its back-end, node events and lookup, and long
// calls that stop when their signal is aborted, leaving nothing behind.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Aborted, guardDriver, isDriverError, type NodeEvent } from '@orrery/virt-api';
import { createTestContext, sampleInstanceSpec } from '@orrery/virt-api/conformance';
import { createDriver, fakeBackendPath, openFakeBackend } from '@orrery/driver-fake';

/** Polls `check` until it answers a value, for at most `ms`. */
async function waitFor<T>(what: string, check: () => Promise<T | undefined>, ms: number): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v !== undefined) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 10));
  }
}

async function boot(config: Record<string, string> = {}) {
  const { ctx, cleanup } = await createTestContext({ host: 'h', config: { watch_interval_ms: '0', ...config } });
  const driver = guardDriver(createDriver());
  await driver.init(ctx);
  const backend = openFakeBackend(fakeBackendPath(ctx.stateDir, ctx.host));
  return {
    driver, backend,
    async done() {
      await driver.shutdown();
      backend.close();
      await cleanup();
    },
  };
}

describe('fake driver: contract 1.1', () => {
  it('agrees the newest contract with the nodeLookup group, and has the 1.1 calls', async () => {
    const b = await boot();
    assert.deepEqual(b.driver.contract, { version: '1.4', groups: ['nodeLookup'] });
    assert.equal(b.driver.supports('status') && b.driver.supports('getNode') && b.driver.supports('onNodeEvent'), true);
    await b.done();
  });

  it('reports its back-end reachable with a latency, and unreachable while it is down', async () => {
    const b = await boot({ latency_ms: '5' });
    const up = await b.driver.status();
    assert.equal(up.reachable, true);
    assert.ok(up.latencyMs !== null && up.latencyMs >= 4, `latency ${up.latencyMs}`);
    // A fault meant for the next call is not used up by the probe.
    b.backend.injectFault({ op: '*', code: 'BackendUnavailable', times: 1 });
    assert.equal((await b.driver.status()).reachable, true);
    assert.equal(b.backend.listFaults().length, 1);
    b.backend.clearFaults();
    b.backend.setDown(true);
    const down = await b.driver.status();
    assert.deepEqual([down.reachable, down.latencyMs], [false, null]);
    assert.match(down.message, /fake back-end is down/);
    b.backend.setDown(false);
    assert.equal((await b.driver.status()).reachable, true);
    await b.done();
  });

  it('emits a node event when a node leaves the back-end, and stops finding it', async () => {
    const b = await boot({ nodes: '2', watch_interval_ms: '20' });
    const events: NodeEvent[] = [];
    b.driver.onNodeEvent((e) => events.push(e));
    const [first, second] = await b.driver.listNodes();
    assert.equal((await b.driver.getNode(second!.name)).uuid, second!.uuid);
    assert.ok(b.backend.removeNode(second!.name));
    await waitFor('the node event', async () => (events.length > 0 ? true : undefined), 5000);
    assert.deepEqual(events.map((e) => [e.kind, e.node, e.uuid]), [['removed', second!.name, second!.uuid]]);
    assert.deepEqual((await b.driver.listNodes()).map((n) => n.name), [first!.name]);
    assert.ok(isDriverError(await b.driver.getNode(second!.name).catch((e: unknown) => e), 'NodeNotFound'));
    const spawn = await b.driver.spawn(sampleInstanceSpec(second!, b.driver.capabilities())).catch((e: unknown) => e);
    assert.ok(isDriverError(spawn, 'NodeNotFound'));
    await b.done();
  });

  it('stops a hung spawn when its signal is aborted, leaving no guest', async () => {
    const b = await boot();
    const [node] = await b.driver.listNodes();
    b.backend.injectFault({ op: 'spawn', kind: 'hang' });
    const ac = new AbortController();
    const spec = sampleInstanceSpec(node!, b.driver.capabilities());
    const pending = b.driver.spawn(spec, { signal: ac.signal }).catch((e: unknown) => e);
    await waitFor('the spawn to hang', async () => (b.backend.getInstance(spec.uuid) ? true : undefined), 5000);
    ac.abort(new Aborted('compute service stopping'));
    const err = await pending;
    assert.ok(isDriverError(err, 'Aborted'), String(err));
    // The driver's own cleanup ran (not the shutdown's): the half-built guest is gone now.
    await waitFor('the guest to be removed', async () => (b.backend.getInstance(spec.uuid) ? undefined : true), 5000);
    await b.done();
  });
});
