import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { newHexId } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import type { Bus, RpcHandler, RpcMessage, Subscription } from '../../src/rpc/bus.js';
import { InProcessBus } from '../../src/rpc/inprocess-bus.js';
import { createBus } from '../../src/rpc/transport.js';
import { busContract, rpcMessage, waitFor, type BusFabric } from './bus-contract.js';

/**
 * One participant of the in-process fabric: the services of one process all share a single
 * InProcessBus, so a participant is that bus with its own subscriptions, closed with it.
 */
class Participant implements Bus {
  private readonly subs = new Set<Subscription>();
  constructor(private readonly shared: Bus) {}
  call(topic: string, msg: RpcMessage, timeoutMs: number): Promise<unknown> {
    return this.shared.call(topic, msg, timeoutMs);
  }
  cast(topic: string, msg: RpcMessage): Promise<void> {
    return this.shared.cast(topic, msg);
  }
  fanout(topic: string, msg: RpcMessage): Promise<void> {
    return this.shared.fanout(topic, msg);
  }
  async serve(topic: string, handler: RpcHandler, opts?: { fanout?: boolean }): Promise<Subscription> {
    const sub = await this.shared.serve(topic, handler, opts);
    this.subs.add(sub);
    return {
      close: async () => {
        this.subs.delete(sub);
        await sub.close();
      },
    };
  }
  async close(): Promise<void> {
    for (const sub of this.subs) await sub.close();
    this.subs.clear();
  }
}

async function inProcessFabric(): Promise<BusFabric> {
  // Made the way the entry points make it: from the default transport_url.
  const shared = await createBus('inprocess://', createLogger('test', process.env.ORRERY_LOG_LEVEL ?? 'silent'));
  if (!(shared instanceof InProcessBus)) throw new Error('inprocess:// did not give the in-process bus');
  const run = newHexId().slice(0, 8);
  return {
    open: async () => new Participant(shared),
    topic: (label) => `test.${label}.${run}`,
    dispose: () => shared.close(),
  };
}

busContract('in-process', inProcessFabric, false);

describe('InProcessBus delivery', () => {
  it('delivers a backlog of casts one per event-loop turn, so I/O that arrives meanwhile is not queued behind all of it', async () => {
    const bus = new InProcessBus();
    const handled: number[] = [];
    let handledWhenTimerFired = -1;
    const sub = await bus.serve('backlog', async (msg) => {
      handled.push(msg.args.i as number);
    });
    for (let i = 0; i < 50; i++) await bus.cast('backlog', rpcMessage('work', { i }));
    // A timer due now stands for an HTTP request that arrived: it runs on the next turn.
    const timer = new Promise<void>((resolve) => setTimeout(() => {
      handledWhenTimerFired = handled.length;
      resolve();
    }, 0));
    await timer;
    await waitFor('the whole backlog', () => handled.length === 50);
    assert.ok(handledWhenTimerFired < 50, `the timer ran after ${handledWhenTimerFired} of 50 casts`);
    assert.deepEqual(handled, Array.from({ length: 50 }, (_, i) => i), 'casts keep their order');
    await sub.close();
    await bus.close();
  });

  it('once closed, refuses new messages, fails the calls still waiting and drops undelivered casts', async () => {
    const bus = new InProcessBus();
    let casts = 0;
    await bus.serve('busy', async (msg) => {
      if (msg.method === 'cast') casts++;
      else await new Promise(() => undefined); // a call that never answers
    });
    const waiting = bus.call('busy', rpcMessage('hang'), 60_000);
    await bus.cast('busy', rpcMessage('cast'));
    await bus.close();
    await assert.rejects(waiting, /The RPC bus was closed/);
    await assert.rejects(bus.cast('busy', rpcMessage('late')), /The RPC bus is closed/);
    await assert.rejects(bus.call('busy', rpcMessage('late'), 1000), /The RPC bus is closed/);
    await assert.rejects(bus.fanout('busy', rpcMessage('late')), /The RPC bus is closed/);
    await assert.rejects(bus.serve('other', async () => undefined), /The RPC bus is closed/);
    await new Promise((resolve) => setImmediate(resolve));
    assert.equal(casts, 0, 'the cast queued before close was dropped');
  });
});
