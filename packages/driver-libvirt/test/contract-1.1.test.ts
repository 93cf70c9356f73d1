// The libvirt driver's contract 1.1 parts that need no libvirtd: the handshake, status() of a
// driver that cannot reach libvirt, and commands killed by an aborted signal.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Aborted, isDriverError, prepareDriver } from '@orrery/virt-api';
import { createDriver, LibvirtDriver } from '@orrery/driver-libvirt';
import { run } from '../src/exec.js';

describe('libvirt driver: contract 1.1', () => {
  it('agrees 1.2 (moves) with the nodeLookup group, having every method of it and of both move capabilities', () => {
    const driver = createDriver();
    assert.deepEqual(prepareDriver(driver).contract, { version: '1.4', groups: ['nodeLookup'] });
    const caps = driver.capabilities();
    assert.deepEqual([caps.coldMigration, caps.liveMigration], [true, true]);
  });

  it('reports libvirt unreachable (never throws) when it is not running', async () => {
    const s = await new LibvirtDriver().status();
    assert.deepEqual([s.reachable, s.latencyMs], [false, null]);
    assert.match(s.message, /not running/);
  });

  it('kills a command when the call’s signal is aborted, and runs none for a signal aborted already', async () => {
    const ac = new AbortController();
    const t0 = Date.now();
    const pending = run('sleep', ['10'], { signal: ac.signal }).catch((e: unknown) => e);
    setTimeout(() => ac.abort(new Aborted('compute service stopping')), 50);
    const err = await pending;
    assert.ok(isDriverError(err, 'Aborted'), String(err));
    assert.equal((err as Error).message, 'compute service stopping');
    assert.ok(Date.now() - t0 < 5000, 'the command was not killed');
    const pre = await run('sleep', ['10'], { signal: AbortSignal.abort() }).catch((e: unknown) => e);
    assert.ok(isDriverError(pre, 'Aborted'));
  });
});
