// Conductor RPC 1.3: service_report carries the compute's driver status. An unreachable
// back-end disables the service with an AUTO: reason that a reachable one lifts; an operator's
// disable is never lifted; a compute pinned below 1.3 sends none; a malformed status is ignored.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Config } from '../../src/common/config.js';
import { newUuid } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import { ConductorService } from '../../src/conductor/conductor.js';
import type { Db } from '../../src/db/connection.js';
import type { Bus, RpcMessage } from '../../src/rpc/bus.js';
import { CONDUCTOR_TOPIC, ConductorRpcApi } from '../../src/rpc/conductor-api.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { BACKENDS, type TestDatabase } from '../db/databases.js';

for (const backend of BACKENDS) describe(`conductor RPC 1.3 service_report driver_status (${backend.kind})`, { skip: backend.skip }, () => {
  let database: TestDatabase;
  let db: Db;
  let bus: InProcessBus;
  let conductor: ConductorService;
  const sent: RpcMessage[] = [];
  let recording: Bus;
  const who = (host: string) => ({ host, binary: 'nova-compute', topic: 'compute', version: '1.1' });
  const row = (host: string) => db.selectFrom('services').select(['disabled', 'disabled_reason'])
    .where('host', '=', host).where('binary', '=', 'nova-compute').executeTakeFirstOrThrow();

  before(async () => {
    database = await backend.create();
    db = database.db;
    bus = new InProcessBus();
    conductor = new ConductorService(db, new Config(undefined, {}), createLogger('test', 'silent'), 'conductor-test');
    await conductor.start(bus);
    recording = {
      call: (topic, msg, timeoutMs) => (sent.push(msg), bus.call(topic, msg, timeoutMs)),
      cast: (topic, msg) => bus.cast(topic, msg),
      fanout: (topic, msg) => bus.fanout(topic, msg),
      serve: (topic, handler, opts) => bus.serve(topic, handler, opts),
    } as Bus;
  });
  after(async () => {
    await conductor?.stop();
    await database?.close();
  });

  it('disables a service whose back-end is unreachable, and enables it when it answers', async () => {
    const c = new ConductorRpcApi(recording, 5000);
    await c.serviceReport(systemContext(), who('h1'), { reachable: true, latencyMs: 3, message: 'ok' });
    assert.deepEqual(await row('h1'), { disabled: 0, disabled_reason: null });
    const status = await c.serviceReport(systemContext(), who('h1'), { reachable: false, latencyMs: null, message: 'libvirt socket gone' });
    assert.equal(status.disabled, true, 'the answer already says disabled');
    assert.deepEqual(await row('h1'), { disabled: 1, disabled_reason: 'AUTO: driver back-end unreachable: libvirt socket gone' });
    await c.serviceReport(systemContext(), who('h1'), { reachable: false, latencyMs: null, message: 'x'.repeat(400) });
    assert.equal((await row('h1')).disabled_reason!.length, 255);
    await c.serviceReport(systemContext(), who('h1'), { reachable: true, latencyMs: 2, message: 'ok' });
    assert.deepEqual(await row('h1'), { disabled: 0, disabled_reason: null });
    assert.deepEqual(sent.at(-1)!.args.driver_status, { reachable: true, latency_ms: 2, message: 'ok' });
  });

  it('never lifts or rewrites an operator’s disable', async () => {
    const c = new ConductorRpcApi(bus, 5000);
    await c.serviceReport(systemContext(), who('h2'));
    await db.updateTable('services').set({ disabled: 1, disabled_reason: 'maintenance' }).where('host', '=', 'h2').execute();
    await c.serviceReport(systemContext(), who('h2'), { reachable: false, latencyMs: null, message: 'down' });
    assert.deepEqual(await row('h2'), { disabled: 1, disabled_reason: 'maintenance' });
    await c.serviceReport(systemContext(), who('h2'), { reachable: true, latencyMs: 1, message: 'ok' });
    assert.deepEqual(await row('h2'), { disabled: 1, disabled_reason: 'maintenance' });
  });

  it('sends no driver_status to a conductor pinned below 1.3', async () => {
    const c = new ConductorRpcApi(recording, 5000, async () => '1.2');
    sent.length = 0;
    await c.serviceReport(systemContext(), who('h3'), { reachable: false, latencyMs: null, message: 'down' });
    assert.equal(sent[0]!.version, '1.2');
    assert.ok(!('driver_status' in sent[0]!.args));
    assert.deepEqual(await row('h3'), { disabled: 0, disabled_reason: null });
  });

  it('ignores a malformed driver_status and still records the heartbeat', async () => {
    await bus.call(CONDUCTOR_TOPIC, {
      method: 'service_report', version: '1.3', msgId: newUuid(), context: systemContext(),
      args: { ...who('h4'), driver_status: { reachable: 'no', message: 42 } },
    }, 5000);
    assert.deepEqual(await row('h4'), { disabled: 0, disabled_reason: null });
  });
});
