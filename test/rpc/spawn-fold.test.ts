import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageService } from '@orrery/virt-api';
import { Config } from '../../src/common/config.js';
import { newRequestId } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { ComputeService } from '../../src/compute/manager.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { createAction } from '../../src/db/instance-actions.js';
import { getInstance, getInstanceRow } from '../../src/db/instances.js';
import { RpcTimeout, type Bus, type RpcContext, type RpcMessage } from '../../src/rpc/bus.js';
import { ComputeRpcApi } from '../../src/rpc/compute-api.js';
import { CONDUCTOR_TOPIC } from '../../src/rpc/conductor-api.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { waitFor } from '../support/cloud.js';
import { MemoryDriver } from '../drivers/memory-driver.js';
import { castScheduledBuild } from '../support/scheduled-build.js';

const BUILD_EVENT = 'compute_build_and_run_instance';

/**
 * Conductor RPC 1.5: instance_update records the action event it carries in its own transaction,
 * so a spawn costs the compute service two conductor calls, not four, and an operation's final
 * update finishes its event. A compute pinned to 1.4 makes the separate calls; the events
 * recorded are the same either way, and a folded call whose answer is lost lands once.
 */
function rig(conductorLevel: string | null) {
  const host = 'fold1';
  const t = {} as {
    db: Db; conductor: ConductorService; compute: ComputeService; sender: ComputeRpcApi; stateDir: string;
    /** Conductor calls the compute service sent. */
    sent: RpcMessage[];
    /** Answers one call with a timeout: after delivering it (its answer lost), or without. */
    lose: { match: (m: RpcMessage) => boolean; delivered: boolean } | null;
  };
  before(async () => {
    t.sent = [];
    t.lose = null;
    t.stateDir = mkdtempSync(join(tmpdir(), 'orrery-spawn-fold-'));
    const config = new Config(undefined, {}).with({
      DEFAULT: { state_path: t.stateDir, report_interval: '0', sync_power_state_interval: '0' },
      compute: { stopped_event_delay: '0' },
      ...(conductorLevel ? { upgrade_levels: { conductor: conductorLevel } } : {}),
    });
    const log = createLogger('test', 'silent');
    t.db = openDatabase('sqlite://');
    await migrate(t.db);
    const bus = new InProcessBus();
    t.conductor = new ConductorService(t.db, config, log, 'conductor-test');
    await t.conductor.start(bus);
    const recording: Bus = {
      call: async (topic, msg, timeoutMs) => {
        if (topic === CONDUCTOR_TOPIC) t.sent.push(msg);
        const lose = t.lose;
        if (lose?.match(msg)) {
          t.lose = null;
          if (lose.delivered) await bus.call(topic, msg, timeoutMs);
          throw new RpcTimeout(topic, msg.method, timeoutMs);
        }
        return bus.call(topic, msg, timeoutMs);
      },
      cast: (topic, msg) => bus.cast(topic, msg),
      fanout: (topic, msg) => bus.fanout(topic, msg),
      serve: (topic, handler, opts) => bus.serve(topic, handler, opts),
      close: () => bus.close(),
    };
    t.compute = new ComputeService(recording, { config, host, log, driver: new MemoryDriver(), images: {} as ImageService });
    await t.compute.start();
    t.sender = new ComputeRpcApi(bus, 5000);
  });
  after(async () => {
    await t.compute.stop();
    await t.conductor.stop();
    await t.db.destroy();
    rmSync(t.stateDir, { recursive: true, force: true });
  });

  /** Puts a scheduled instance on node mem-a and casts its build, as the conductor would. */
  async function build(): Promise<{ uuid: string; ctx: RpcContext }> {
    const { uuid, ctx } = await castScheduledBuild(t.db, t.sender, host, 'mem-a');
    await waitFor('ACTIVE with its build event finished', async () =>
      ((await getInstanceRow(t.db, uuid))?.vm_state === 'active' && (await events(uuid)).filter((e) => !e.finished).length === 0 && (await events(uuid)).length > 0 ? true : undefined));
    // Nothing trails the build: a late call would have been sent by now.
    await new Promise((r) => setTimeout(r, 50));
    return { uuid, ctx };
  }

  /** The events recorded for the instance (what a user reads back), in order. */
  async function events(uuid: string) {
    const rows = await t.db.selectFrom('instance_action_events as e').innerJoin('instance_actions as a', 'a.id', 'e.action_id')
      .select(['e.event', 'e.host', 'e.result', 'e.traceback', 'e.start_time', 'e.finish_time'])
      .where('a.instance_uuid', '=', uuid).orderBy('e.id').execute();
    return rows.map((r) => ({ event: r.event, host: r.host, result: r.result, traceback: r.traceback, started: r.start_time !== null, finished: r.finish_time !== null }));
  }

  /** Stops the instance as the API would (task state powering-off, an action of its own), and waits for STOPPED. */
  async function stop(uuid: string): Promise<void> {
    const ctx: RpcContext = { requestId: newRequestId(), userId: 'u1', projectId: 'p1', roles: ['member'], isAdmin: false };
    await createAction(t.db, { instanceUuid: uuid, action: 'stop', requestId: ctx.requestId, projectId: 'p1', userId: 'u1' });
    await t.db.updateTable('instances').set({ task_state: 'powering-off' }).where('uuid', '=', uuid).execute();
    t.sent.length = 0;
    await t.sender.instanceAction(ctx, 'stop_instance', (await getInstance(t.db, uuid))!);
    await waitFor('STOPPED', async () => ((await getInstanceRow(t.db, uuid))?.vm_state === 'stopped' ? true : undefined));
    await new Promise((r) => setTimeout(r, 50));
  }

  /** The conductor calls about the instance, but the power sync's read of a driver event (instance_get), which is no step of an operation. */
  const callsFor = (uuid: string) => t.sent.filter((m) => m.args.uuid === uuid && m.method !== 'instance_get').map((m) => m.method);
  /**
   * Builds with the answer to its ACTIVE update lost (after delivering the update, or without),
   * and waits for the build's `calls` conductor calls, the update's retry among them.
   */
  async function buildLosingActive(delivered: boolean, calls: number): Promise<string> {
    t.lose = { match: (m) => m.method === 'instance_update' && 'vmState' in Object(m.args.updates), delivered };
    const { uuid } = await build();
    await waitFor('the retry', async () => (callsFor(uuid).length >= calls ? true : undefined));
    await new Promise((res) => setTimeout(res, 50));
    return uuid;
  }
  return { t, build, events, stop, callsFor, buildLosingActive };
}

/** What a spawn and a stop record, whichever version carried them. */
const SPAWNED = [{ event: BUILD_EVENT, host: 'fold1', result: 'Success', traceback: null, started: true, finished: true }];
const STOPPED = { event: 'compute_stop_instance', host: 'fold1', result: 'Success', traceback: null, started: true, finished: true };

describe('conductor RPC 1.5: the spawn fold', () => {
  const r = rig(null);

  it('a spawn costs two conductor calls, each an instance_update carrying its event', async () => {
    const { uuid } = await r.build();
    assert.deepEqual(r.callsFor(uuid), ['instance_update', 'instance_update']);
    const [spawning, active] = r.t.sent.filter((m) => m.args.uuid === uuid);
    assert.deepEqual(spawning!.args.action_event, { event: BUILD_EVENT, start: { host: 'fold1' } });
    assert.deepEqual(active!.args.action_event, { event: BUILD_EVENT, finish: { result: 'Success', traceback: null } });
    assert.deepEqual(await r.events(uuid), SPAWNED);
  });

  it('an operation’s final update finishes its event: a stop costs two calls', async () => {
    const { uuid } = await r.build();
    await r.stop(uuid);
    assert.deepEqual(r.callsFor(uuid), ['action_event_start', 'instance_update']);
    assert.deepEqual((await r.events(uuid)).at(-1), STOPPED);
  });

  it('a folded update whose answer was lost is not applied twice, nor its event recorded twice', async () => {
    const uuid = await r.buildLosingActive(true, 3);
    assert.deepEqual(r.callsFor(uuid), ['instance_update', 'instance_update', 'instance_update'], 'the lost one was sent again');
    assert.deepEqual(await r.events(uuid), SPAWNED);
  });

  it('a folded update that never arrived is sent again, and lands with its event', async () => {
    const uuid = await r.buildLosingActive(false, 3);
    assert.deepEqual(r.callsFor(uuid), ['instance_update', 'instance_update', 'instance_update']);
    assert.deepEqual(await r.events(uuid), SPAWNED);
  });
});

describe('conductor RPC pinned to 1.4: the separate calls', () => {
  const r = rig('1.4');

  it('a spawn costs four conductor calls and records the same events', async () => {
    const { uuid } = await r.build();
    assert.deepEqual(r.callsFor(uuid), ['instance_update', 'action_event_start', 'instance_update', 'action_event_finish']);
    assert.ok(r.t.sent.every((m) => m.version === '1.4' && !('action_event' in m.args)));
    assert.deepEqual(await r.events(uuid), SPAWNED);
  });

  it('a stop costs three, with the same events', async () => {
    const { uuid } = await r.build();
    await r.stop(uuid);
    assert.deepEqual(r.callsFor(uuid), ['action_event_start', 'instance_update', 'action_event_finish']);
    assert.deepEqual((await r.events(uuid)).at(-1), STOPPED);
  });

  it('an update whose answer was lost still gets its event recorded, once', async () => {
    const uuid = await r.buildLosingActive(true, 5);
    assert.deepEqual(r.callsFor(uuid), ['instance_update', 'action_event_start', 'instance_update', 'instance_update', 'action_event_finish']);
    assert.deepEqual(await r.events(uuid), SPAWNED);
  });
});
