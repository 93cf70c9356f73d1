import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { ComputeRpcApi, computeTopic, COMPUTE_RPC_VERSION } from '../../src/rpc/compute-api.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import type { RpcMessage } from '../../src/rpc/bus.js';
import type { Instance } from '../../src/objects/compute.js';

const instance = {
  uuid: 'u1', name: 'vm', hostname: 'vm', node: 'n1', flavor: { vcpus: 1 }, metadata: {},
} as unknown as Instance;

/** Senders pin to the lowest version a live receiver speaks and backport the objects they send. */
describe('compute RPC pinning', () => {
  async function capture(pin: string | null) {
    const bus = new InProcessBus();
    const seen: RpcMessage[] = [];
    await bus.serve(computeTopic('n1'), async (msg) => {
      seen.push(msg);
      return {};
    });
    let resolved = pin;
    const api = new ComputeRpcApi(bus, 1000, async () => resolved);
    return { api, seen, bus, setLive: (v: string | null) => (resolved = v) };
  }

  it('sends at the pinned version with backported objects, and refuses newer methods', async () => {
    const { api, seen } = await capture('1.0');
    await api.instanceAction(systemContext(), 'stop_instance', instance);
    await new Promise((r) => setImmediate(r));
    assert.equal(seen[0]!.version, '1.0');
    const env = seen[0]!.args.instance as { version: string; data: Record<string, unknown> };
    assert.equal(env.version, '1.0');
    assert.ok(!('hostname' in env.data), 'Instance 1.0 has no hostname');
    await assert.rejects(api.getInstanceDiagnostics(systemContext(), instance), /needs RPC 1\.1.*pinned to 1\.0/);
    assert.equal(seen.length, 1, 'the refused call never left the sender');
  });

  it('lifts the pin when the receivers are upgraded and the sender refreshes', async () => {
    const { api, seen, setLive } = await capture('1.0');
    assert.equal(await api.pin(), '1.0');
    setLive(COMPUTE_RPC_VERSION);
    assert.equal(await api.pin(), '1.0', 'the pin holds until refreshed (restart or SIGHUP)');
    assert.equal(await api.refreshPin(), COMPUTE_RPC_VERSION);
    await api.getInstanceDiagnostics(systemContext(), instance);
    assert.equal(seen[0]!.version, COMPUTE_RPC_VERSION);
    const env = seen[0]!.args.instance as { version: string; data: Record<string, unknown> };
    assert.equal(env.data.hostname, 'vm');
  });

  it('speaks its own version when no receiver is live yet', async () => {
    const { api } = await capture(null);
    assert.equal(await api.pin(), COMPUTE_RPC_VERSION);
  });
});
