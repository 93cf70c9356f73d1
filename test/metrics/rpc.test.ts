import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Type } from '@sinclair/typebox';
import { registry } from '../../src/common/metrics.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { RpcTimeout } from '../../src/rpc/bus.js';
import { call, cast, defineApi, type ApiSignatures } from '../../src/rpc/definition.js';
import { dispatcher, RpcClient, systemContext } from '../../src/rpc/dispatch.js';
import { newUuid } from '../../src/common/ids.js';
import { moved, parseExposition, type Scrape } from './support.js';

/** A small API of its own, so that its counters move only by what this test sends. */
const ECHO_API = defineApi('metrics-echo', '1.0', {
  echo: call({
    args: Type.Object({ text: Type.String() }), encode: (a: { text: string }) => a, decode: (w) => w,
    result: Type.String(), encodeResult: (r: string) => r, decodeResult: (w) => w,
  }),
  fail: call({
    args: Type.Object({}), encode: (_a: Record<string, never>) => ({}), decode: () => ({}),
    result: Type.Null(), encodeResult: () => null, decodeResult: () => null,
  }),
  note: cast({ args: Type.Object({ text: Type.String() }), encode: (a: { text: string }) => a, decode: (w) => w }),
});

class EchoClient extends RpcClient<ApiSignatures<typeof ECHO_API>> {
  echo(topic: string, text: string, timeoutMs?: number) {
    return this.send(topic, systemContext(), 'echo', { text }, timeoutMs);
  }
  fail(topic: string) {
    return this.send(topic, systemContext(), 'fail', {});
  }
  note(topic: string, text: string) {
    return this.send(topic, systemContext(), 'note', { text });
  }
}

const scrapeRegistry = async (): Promise<Scrape> => parseExposition(await registry.metrics());

describe('RPC metrics', () => {
  it('count calls and casts sent, their latency, handling by outcome, and calls that timed out', async () => {
    const bus = new InProcessBus();
    const notes: string[] = [];
    const sub = await bus.serve('echo', dispatcher(ECHO_API, {
      echo: async ({ text }) => text,
      fail: async () => {
        throw new Error('handler broke');
      },
      note: async ({ text }) => void notes.push(text),
    }));
    const client = new EchoClient(bus, ECHO_API, 5_000);
    try {
      const before = await scrapeRegistry();
      for (let i = 0; i < 3; i++) assert.equal(await client.echo('echo', `hi${i}`), `hi${i}`);
      await assert.rejects(client.fail('echo'), /handler broke/);
      await client.note('echo', 'n');
      await new Promise((r) => setImmediate(r));
      // Nobody listens on this topic: the in-process bus answers a timeout at once.
      await assert.rejects(client.echo('nobody-here', 'x', 50), RpcTimeout);
      // A method no definition has (a newer or hostile sender's): one series for all such names.
      await assert.rejects(bus.call('echo', { method: 'constructor', version: '1.0', args: {}, context: systemContext(), msgId: newUuid() }, 1000), /no method/);
      assert.deepEqual(notes, ['n']);
      const after = await scrapeRegistry();
      const api = 'metrics-echo';
      assert.deepEqual(moved(before, after, [
        ['orrery_rpc_sent_total', { api, method: 'echo', kind: 'call' }],
        ['orrery_rpc_sent_total', { api, method: 'fail', kind: 'call' }],
        ['orrery_rpc_sent_total', { api, method: 'note', kind: 'cast' }],
        ['orrery_rpc_call_duration_seconds_count', { api, method: 'echo' }],
        ['orrery_rpc_call_timeouts_total', { api, method: 'echo' }],
        ['orrery_rpc_handled_total', { api, method: 'echo', outcome: 'ok' }],
        ['orrery_rpc_handled_total', { api, method: 'fail', outcome: 'error' }],
        ['orrery_rpc_handled_total', { api, method: 'note', outcome: 'ok' }],
        ['orrery_rpc_handled_total', { api, method: '(unknown)', outcome: 'error' }],
        ['orrery_rpc_handle_duration_seconds_count', { api, method: 'echo' }],
      ]), {
        'orrery_rpc_sent_total{api="metrics-echo",kind="call",method="echo"}': 4,
        'orrery_rpc_sent_total{api="metrics-echo",kind="call",method="fail"}': 1,
        'orrery_rpc_sent_total{api="metrics-echo",kind="cast",method="note"}': 1,
        // The timed-out call is timed too: its wait is what an operator looks for.
        'orrery_rpc_call_duration_seconds_count{api="metrics-echo",method="echo"}': 4,
        'orrery_rpc_call_timeouts_total{api="metrics-echo",method="echo"}': 1,
        'orrery_rpc_handled_total{api="metrics-echo",method="echo",outcome="ok"}': 3,
        'orrery_rpc_handled_total{api="metrics-echo",method="fail",outcome="error"}': 1,
        'orrery_rpc_handled_total{api="metrics-echo",method="note",outcome="ok"}': 1,
        'orrery_rpc_handled_total{api="metrics-echo",method="(unknown)",outcome="error"}': 1,
        'orrery_rpc_handle_duration_seconds_count{api="metrics-echo",method="echo"}': 3,
      });
      assert.ok(!after.text.includes('method="constructor"'));
    } finally {
      await sub.close();
      await bus.close();
    }
  });
});
