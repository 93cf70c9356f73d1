import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageService } from '@orrery/virt-api';
import { Config } from '../../src/common/config.js';
import { compareVersions } from '../../src/common/versions.js';
import { createLogger } from '../../src/common/logging.js';
import { ComputeService } from '../../src/compute/manager.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import { COMPUTE_STEPS } from '../../src/objects/actions.js';
import type { RequestSpec } from '../../src/objects/compute.js';
import { SchedulerService } from '../../src/scheduler/scheduler.js';
import type { RpcContext } from '../../src/rpc/bus.js';
import { COMPUTE_API } from '../../src/rpc/compute-api.js';
import { CONDUCTOR_API } from '../../src/rpc/conductor-api.js';
import { methodNames, type RpcApi, type Signature } from '../../src/rpc/definition.js';
import { dispatcher, systemContext } from '../../src/rpc/dispatch.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { SCHEDULER_API, SchedulerRpcApi, type SchedulerHandlers } from '../../src/rpc/scheduler-api.js';
import { MemoryDriver } from '../drivers/memory-driver.js';

/**
 * Each RPC API is defined once (src/rpc/*-api.ts) and both ends derive from the definition: the
 * services' handler tables have exactly its methods, and no method is newer than its API. The
 * types make a missing, extra or mistyped handler a compile error (below); this checks the
 * real tables the services serve, at run time too.
 */
describe('RPC API definitions', () => {
  let db: Db;
  let stateDir: string;
  const config = new Config(undefined, {});
  const log = createLogger('test', 'silent');
  const tables: Array<{ api: RpcApi<Record<string, Signature>>; handlers: () => object }> = [];

  before(async () => {
    db = openDatabase('sqlite://');
    await migrate(db);
    stateDir = mkdtempSync(join(tmpdir(), 'orrery-rpc-definitions-'));
    const computeConfig = config.with({ DEFAULT: { state_path: stateDir } });
    tables.push(
      { api: CONDUCTOR_API, handlers: () => new ConductorService(db, config, log, 'definitions').handlers() },
      { api: SCHEDULER_API, handlers: () => new SchedulerService(db, config, log, 'definitions').handlers() },
      {
        api: COMPUTE_API,
        handlers: () => new ComputeService(new InProcessBus(), {
          config: computeConfig, host: 'definitions', log, driver: new MemoryDriver(), images: {} as ImageService,
        }).handlers,
      },
    );
  });
  after(async () => {
    await db.destroy();
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('every service handles exactly the methods its API defines', () => {
    assert.equal(tables.length, 3);
    for (const { api, handlers } of tables) {
      const defined = methodNames(api).sort();
      const handled = Object.keys(handlers()).sort();
      assert.deepEqual(defined.filter((m) => !handled.includes(m)), [], `${api.name}: methods defined without a handler`);
      assert.deepEqual(handled.filter((m) => !defined.includes(m)), [], `${api.name}: handlers without a definition`);
    }
  });

  it('no method is newer than its API, and every one is a call or a cast of the same major version', () => {
    for (const { api } of tables) {
      for (const name of methodNames(api)) {
        const def = api.methods[name]!;
        assert.ok(compareVersions(def.since, api.version) <= 0, `${api.name}.${name} since ${def.since} > ${api.version}`);
        assert.equal(def.since.split('.')[0], api.version.split('.')[0], `${api.name}.${name}`);
        assert.ok(def.kind === 'call' || def.kind === 'cast', `${api.name}.${name}`);
      }
    }
  });

  it('every compute step of the action catalogue is a method of the compute API', () => {
    const methods = new Set<string>(methodNames(COMPUTE_API));
    assert.deepEqual(Object.keys(COMPUTE_STEPS).filter((m) => !methods.has(m)), []);
  });

  it('a message whose arguments are not of the wire schema is refused before its handler runs', async () => {
    let ran = false;
    const handler = dispatcher(SCHEDULER_API, { select_destinations: async () => { ran = true; return []; } });
    await assert.rejects(handler({
      method: 'select_destinations', version: '1.0', msgId: 'm1', context: systemContext(), args: { request_spec: 'not an envelope' },
    }), /malformed RPC arguments: \/request_spec/);
    await assert.rejects(handler({ method: 'constructor', version: '1.0', msgId: 'm2', context: systemContext(), args: {} }), /has no method constructor/);
    assert.equal(ran, false);
  });
});

// ---- What the types refuse (checked by `tsc -b`: each line below must stay an error).

const spec = {} as RequestSpec;
export const typeChecks: SchedulerHandlers[] = [
  // @ts-expect-error a method defined without a handler
  {},
  // @ts-expect-error a handler without a definition
  { select_destinations: async () => [], select_many: async () => [] },
  // @ts-expect-error a handler taking a wrong argument type
  { select_destinations: async (args: { spec: string }) => (args.spec ? [] : []) },
  // @ts-expect-error a handler answering the wrong type
  { select_destinations: async () => 'host1' },
  { select_destinations: async ({ spec: s }) => (s.instanceUuids.length > 0 ? [] : []) },
];

export class MistypedClient extends SchedulerRpcApi {
  wrongArgument(ctx: RpcContext) {
    // @ts-expect-error a client sending a wrong argument
    return this.send('scheduler', ctx, 'select_destinations', { spec: 'm1.tiny' });
  }
  undefinedMethod(ctx: RpcContext) {
    // @ts-expect-error a client sending a method the API does not define
    return this.send('scheduler', ctx, 'select_many', { spec });
  }
}
