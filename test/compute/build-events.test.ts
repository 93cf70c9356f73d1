import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PowerState, type ImageService, type InstanceInfo, type InstanceSpec } from '@orrery/virt-api';
import { Config } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { waitFor } from '../support/cloud.js';
import { ComputeService } from '../../src/compute/manager.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { getInstanceRow } from '../../src/db/instances.js';
import type { Bus, RpcMessage } from '../../src/rpc/bus.js';
import { ComputeRpcApi } from '../../src/rpc/compute-api.js';
import { CONDUCTOR_RPC_VERSION } from '../../src/rpc/conductor-api.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { MemoryDriver } from '../drivers/memory-driver.js';
import { castScheduledBuild } from '../support/scheduled-build.js';

/** A memory driver whose guest may die as soon as it has been spawned (a Stopped event during the build). */
class DyingDriver extends MemoryDriver {
  dieAfterSpawn = false;
  protected override async create(spec: InstanceSpec): Promise<InstanceInfo> {
    const info = await super.create(spec);
    if (this.dieAfterSpawn) {
      const i = this.instances.get(spec.uuid)!;
      i.powerState = PowerState.SHUTDOWN;
      this.emit(i, PowerState.RUNNING);
    }
    return info;
  }
}

/**
 * The driver's lifecycle events during a build: the compute service records the spawn's outcome
 * itself, so it syncs nothing for an instance it is building, unless an event says otherwise.
 */
describe('lifecycle events of an instance being built', () => {
  const host = 'cm1';
  let stateDir: string;
  let db: Db;
  let conductor: ConductorService;
  let compute: ComputeService;
  let driver: DyingDriver;
  let sender: ComputeRpcApi;
  /** What the compute service sends to the conductor. */
  const sent: RpcMessage[] = [];

  before(async () => {
    stateDir = mkdtempSync(join(tmpdir(), 'orrery-build-events-'));
    const config = new Config(undefined, {}).with({
      DEFAULT: { state_path: stateDir, report_interval: '0', sync_power_state_interval: '0' },
      compute: { stopped_event_delay: '0' },
    });
    const log = createLogger('test', 'silent');
    db = openDatabase('sqlite://');
    await migrate(db);
    const bus = new InProcessBus();
    conductor = new ConductorService(db, config, log, 'conductor-test');
    await conductor.start(bus);
    const recording = {
      call: (topic, msg, timeoutMs) => {
        sent.push(msg);
        return bus.call(topic, msg, timeoutMs);
      },
      cast: (topic, msg) => {
        sent.push(msg);
        return bus.cast(topic, msg);
      },
      fanout: (topic, msg) => bus.fanout(topic, msg),
      serve: (topic, handler, opts) => bus.serve(topic, handler, opts),
    } as Bus;
    driver = new DyingDriver();
    // The memory driver never reads images; spawns here get theirs in the spec.
    compute = new ComputeService(recording, { config, host, log, driver, images: {} as ImageService });
    await compute.start();
    sender = new ComputeRpcApi(bus, 5000);
  });
  after(async () => {
    await compute.stop();
    await conductor.stop();
    await db.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  /** Puts a scheduled instance on node mem-a and casts its build, as the conductor would. */
  const build = async (): Promise<string> => (await castScheduledBuild(db, sender, host, 'mem-a')).uuid;

  const sentFor = (uuid: string, method: string) => sent.filter((m) => m.method === method && m.args.uuid === uuid);
  /** The build's action event is finished (from conductor RPC 1.5 by the build's last instance_update, not a call of its own). */
  const buildEventFinished = async (uuid: string) => (await db.selectFrom('instance_action_events as e')
    .innerJoin('instance_actions as a', 'a.id', 'e.action_id').select('e.finish_time')
    .where('a.instance_uuid', '=', uuid).where('e.event', '=', 'compute_build_and_run_instance').executeTakeFirst())?.finish_time != null;

  it('an instance built as spawned costs no instance_get, and its updates ask for nothing back', async () => {
    driver.dieAfterSpawn = false;
    const uuid = await build();
    const row = await waitFor('ACTIVE', async () => {
      const r = await getInstanceRow(db, uuid);
      return r?.vm_state === 'active' && (await buildEventFinished(uuid)) ? r : undefined;
    });
    assert.equal(row.power_state, PowerState.RUNNING);
    await new Promise((r) => setTimeout(r, 50)); // an event sync would have been sent by now
    assert.deepEqual(sentFor(uuid, 'instance_get'), [], 'the Started event of its own spawn was not synced');
    const updates = sentFor(uuid, 'instance_update');
    assert.equal(updates.length, 2);
    assert.ok(updates.every((m) => m.version === CONDUCTOR_RPC_VERSION && m.args.return_instance === false));
  });

  it('a guest that stopped during the build is synced once its state is recorded: SHUTOFF', async () => {
    driver.dieAfterSpawn = true;
    const uuid = await build();
    const row = await waitFor('stopped', async () => {
      const r = await getInstanceRow(db, uuid);
      return r?.vm_state === 'stopped' ? r : undefined;
    });
    assert.equal(row.power_state, PowerState.SHUTDOWN);
    assert.equal(row.task_state, null);
    assert.equal(sentFor(uuid, 'instance_get').length, 1, 'the last event, and only it, was acted on');
  });
});
