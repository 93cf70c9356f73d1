// Stopping a compute service aborts the long driver calls it has under way (contract 1.1
// CallOptions): a 1.1 driver stops the work itself and leaves nothing behind, and the failure
// recorded says why; a 1.0 driver, never handed the signal, no longer holds the stop either.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { guardDriver, isDriverError, PowerState, type VirtDriver } from '@orrery/virt-api';
import { fakeBackendPath, openFakeBackend, type FakeBackend } from '@orrery/driver-fake';
import { InFlightCalls } from '../../src/compute/in-flight.js';
import { api, login, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

const MV = { 'openstack-api-version': 'compute 2.37' };

/** A cloud with one fake compute c1, an admin session, and c1's back-end. */
function cloudWithHungSpawns(overrides: Parameters<typeof startTestCloud>[0] = {}) {
  const t = {} as { cloud: TestCloud; admin: Session; backend: FakeBackend };
  before(async () => {
    t.cloud = await startTestCloud({ ...overrides, DEFAULT: { ...overrides.DEFAULT, compute_hosts: 'c1' } });
    t.admin = await login(t.cloud, 'admin', 'secret', 'admin');
    t.backend = openFakeBackend(fakeBackendPath(t.cloud.config.statePath('compute', 'c1'), 'c1'));
  });
  after(async () => {
    t.backend?.close();
    await t.cloud?.close();
  });
  return t;
}

/** Boots a server whose spawn hangs once the guest exists (a fault with no deadline of its own); answers its uuid. */
async function bootHung(t: { cloud: TestCloud; admin: Session; backend: FakeBackend }, name: string): Promise<string> {
  t.backend.injectFault({ op: 'spawn', kind: 'hang' });
  const images = await api(t.admin, 'GET', `${t.cloud.urls.image}/v2/images?name=orrery-tiny`);
  const created = await api(t.admin, 'POST', `${t.cloud.urls.compute}/v2.1/servers`, {
    server: { name, imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' },
  }, MV);
  assert.equal(created.status, 202, JSON.stringify(created.body));
  return created.body.server.id as string;
}

/** The build's action event once it has finished: its result and traceback. */
function finishedBuild(cloud: TestCloud, uuid: string): Promise<{ result: string | null; traceback: string | null }> {
  return waitFor('the build event to finish', async () => {
    const row = await cloud.db.selectFrom('instance_action_events as e')
      .innerJoin('instance_actions as a', 'a.id', 'e.action_id')
      .select(['e.result', 'e.traceback'])
      .where('a.instance_uuid', '=', uuid).where('e.event', '=', 'compute_build_and_run_instance')
      .executeTakeFirst();
    return row?.result ? row : undefined;
  }, 15_000);
}

describe('stopping a compute service with a spawn under way', () => {
  const t = cloudWithHungSpawns();

  it('aborts the spawn: the fake stops, removes the half-built guest, and the build records Aborted', async () => {
    const { cloud, backend } = t;
    const uuid = await bootHung(t, 'hung');
    await waitFor('the spawn to hang mid-build', async () => (backend.getInstance(uuid)?.powerState === PowerState.NOSTATE ? true : undefined));

    const t0 = Date.now();
    await cloud.computes[0]!.stop();
    assert.ok(Date.now() - t0 < 5000, `stop took ${Date.now() - t0} ms`);
    assert.equal(backend.getInstance(uuid), undefined, 'the aborted spawn left a guest behind');
    const event = await finishedBuild(cloud, uuid);
    assert.equal(event.result, 'Error');
    // Aborted by the stop itself, not cut off by the driver's shutdown (BackendUnavailable).
    assert.match(event.traceback ?? '', /^Aborted: compute service c1 is stopping/);
  });
});

describe('a spawn that outlives [compute] long_call_timeout', () => {
  const t = cloudWithHungSpawns({ compute: { long_call_timeout: '1' } });

  it('is given up as Timeout, and its aborted signal makes the fake remove the half-built guest', async () => {
    const uuid = await bootHung(t, 'slow');
    const event = await finishedBuild(t.cloud, uuid);
    assert.equal(event.result, 'Error');
    assert.match(event.traceback ?? '', /^Timeout: fake\.spawn did not finish within 1000 ms/);
    assert.equal(t.backend.getInstance(uuid), undefined, 'the timed-out spawn left a guest behind');
  });
});

describe('InFlightCalls with a 1.0 driver that ignores signals', () => {
  it('answers the caller at once and lets the stop go on', async () => {
    let settled = false;
    const never = new Promise<never>(() => {});
    const driver = {
      version: () => ({ name: 'old', driverVersion: '0', contract: { min: '1.0', max: '1.0' } }),
      capabilities: () => ({
        pause: false, suspend: false, reboot: false, powerControl: false, rebuild: false, snapshot: false, consoleOutput: false,
        multiNode: false, imageFormats: ['raw'], hypervisorType: 'old',
      }),
      spawn: (...args: unknown[]) => {
        assert.equal(args.length, 1, 'a 1.0 driver is handed no CallOptions');
        return never;
      },
    } as unknown as VirtDriver;
    const guarded = guardDriver(driver);
    const calls = new InFlightCalls();
    const spec = { image: { diskFormat: 'raw' } } as never;
    const call = calls.run((signal) => guarded.spawn(spec, { signal })).finally(() => (settled = true));
    void call.catch(() => undefined);
    assert.equal(calls.size, 1);
    const t0 = Date.now();
    await calls.abortAll('stopping', 2000);
    assert.ok(Date.now() - t0 < 1000, 'abortAll waited out a call that had already answered');
    const err = await call.catch((e: unknown) => e);
    assert.ok(settled);
    assert.ok(isDriverError(err, 'Aborted'), String(err));
    assert.equal(calls.size, 0);
    // Once stopping, a new call is refused before it reaches the driver.
    assert.ok(isDriverError(await calls.run((signal) => guarded.spawn(spec, { signal })).catch((e: unknown) => e), 'Aborted'));
  });
});
