// get_console is compute RPC 1.5: an API pinned to computes of an older release refuses it (409)
// before anything is sent, and a compute of this release answers it through its driver.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { ComputeRpcApi, computeTopic } from '../../src/rpc/compute-api.js';
import { systemContext } from '../../src/rpc/dispatch.js';
import { statusOf } from '../../src/common/errors.js';
import type { RpcMessage } from '../../src/rpc/bus.js';
import type { Instance } from '../../src/objects/compute.js';

const instance = { uuid: 'u1', name: 'vm', hostname: 'vm', node: 'n1', flavor: { vcpus: 1 }, metadata: {} } as unknown as Instance;

describe('compute RPC get_console', () => {
  it('is refused with 409 to computes pinned to 1.4, and sent at 1.5', async () => {
    const bus = new InProcessBus();
    const seen: RpcMessage[] = [];
    await bus.serve(computeTopic('n1'), async (msg) => {
      seen.push(msg);
      return { host: '127.0.0.1', port: 10001, internal_access_path: null };
    });
    const old = new ComputeRpcApi(bus, 1000, async () => '1.4');
    await assert.rejects(old.getConsole(systemContext(), instance, 'serial'), (err: unknown) => statusOf(err) === 409 && /needs RPC 1\.5/.test(String(err)));
    assert.equal(seen.length, 0, 'the refused call never left the sender');
    const current = new ComputeRpcApi(bus, 1000, async () => '1.5');
    assert.deepEqual(await current.getConsole(systemContext(), instance, 'serial'), { host: '127.0.0.1', port: 10001, internalAccessPath: null });
    assert.equal(seen[0]!.version, '1.5');
    assert.equal(seen[0]!.args.kind, 'serial');
    await bus.close();
  });
});
