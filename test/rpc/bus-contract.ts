import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NotFound, OrreryError, RemoteError, ServiceUnavailable } from '../../src/common/errors.js';
import { newUuid } from '../../src/common/ids.js';
import { sleep } from '../../src/common/time.js';
import { type Bus, type RpcMessage, RpcTimeout } from '../../src/rpc/bus.js';
import { systemContext } from '../../src/rpc/dispatch.js';

/**
 * One deployment's bus fabric as a test sees it: `open()` gives another participant (another
 * service process, as far as the transport can tell) on the same fabric.
 */
export interface BusFabric {
  open(): Promise<Bus>;
  /** A topic name unique to this run, remembered for clean-up. */
  topic(label: string): string;
  dispose(): Promise<void>;
}

export function rpcMessage(method: string, args: Record<string, unknown> = {}): RpcMessage {
  return { method, version: '1.0', args, context: systemContext(), msgId: newUuid() };
}

/** Waits (polling) until `done()` holds; fails naming `what` after `ms`. A liveness bound, not a timing assertion. */
export async function waitFor(what: string, done: () => boolean, ms = 15_000): Promise<void> {
  const giveUpAt = Date.now() + ms;
  while (!done()) {
    if (Date.now() > giveUpAt) assert.fail(`timed out waiting for ${what}`);
    await sleep(10);
  }
}

/** Counts handled messages by msgId, to prove "exactly once". */
export class Tally {
  readonly counts = new Map<string, number>();
  readonly order: RpcMessage[] = [];
  add(msg: RpcMessage): void {
    this.counts.set(msg.msgId, (this.counts.get(msg.msgId) ?? 0) + 1);
    this.order.push(msg);
  }
  get distinct(): number {
    return this.counts.size;
  }
  get total(): number {
    return this.order.length;
  }
  duplicates(): string[] {
    return [...this.counts].filter(([, n]) => n > 1).map(([id]) => id);
  }
}

/** Time for a stray duplicate to show up before a test concludes there is none. */
const SETTLE_MS = 150;

/**
 * The semantics every Bus implementation must have, run against each transport so that the
 * in-process bus and AMQP are held to one contract.
 */
export function busContract(name: string, makeFabric: () => Promise<BusFabric>, skip: string | false): void {
  describe(`Bus contract: ${name}`, { skip }, () => {
    let fabric: BusFabric;
    let a: Bus;
    let b: Bus;

    before(async () => {
      fabric = await makeFabric();
      a = await fabric.open();
      b = await fabric.open();
    });
    after(async () => {
      await fabric?.dispose();
    });

    it('call returns the handler result, copied through JSON', async () => {
      const topic = fabric.topic('call');
      const seen: RpcMessage[] = [];
      const sub = await b.serve(topic, async (msg) => {
        seen.push(msg);
        if (msg.method === 'nothing') return undefined;
        return { echo: msg.args, at: new Date(0), skip: undefined };
      });
      const sent = rpcMessage('echo', { x: 1, nested: { list: [1, 'two'] } });
      assert.deepEqual(await a.call(topic, sent, 5000), { echo: { x: 1, nested: { list: [1, 'two'] } }, at: '1970-01-01T00:00:00.000Z' });
      assert.equal(await a.call(topic, rpcMessage('nothing'), 5000), null);
      assert.deepEqual(seen[0], sent);
      assert.notEqual(seen[0], sent, 'the handler gets a copy, never the sender object');
      await sub.close();
    });

    it('a remote OrreryError keeps its class, status and fault; other errors arrive as RemoteError', async () => {
      const topic = fabric.topic('errors');
      const sub = await b.serve(topic, async (msg) => {
        if (msg.method === 'missing') throw new NotFound('Instance abc could not be found.');
        if (msg.method === 'type') throw new TypeError('bad type');
        throw new Error('boom');
      });
      await assert.rejects(a.call(topic, rpcMessage('missing'), 5000), (err: unknown) => {
        assert.ok(err instanceof OrreryError);
        assert.equal(err.status, 404);
        assert.equal(err.faultName, 'itemNotFound');
        assert.equal(err.name, 'NotFound');
        assert.equal(err.message, 'Instance abc could not be found.');
        return true;
      });
      await assert.rejects(a.call(topic, rpcMessage('type'), 5000), (err: unknown) => {
        assert.ok(err instanceof RemoteError);
        assert.equal(err.name, 'TypeError');
        assert.equal(err.message, 'bad type');
        return true;
      });
      await assert.rejects(a.call(topic, rpcMessage('plain'), 5000), { name: 'Error', message: 'boom' });
      await sub.close();
    });

    it('a call times out with RpcTimeout when no reply comes in time', async () => {
      const topic = fabric.topic('slow');
      let release!: () => void;
      const gate = new Promise<void>((r) => (release = r));
      let started = 0;
      const sub = await b.serve(topic, async () => {
        started++;
        await gate;
        return 'late';
      });
      await assert.rejects(a.call(topic, rpcMessage('slow'), 200), (err: unknown) => {
        assert.ok(err instanceof RpcTimeout);
        assert.equal(err.name, 'MessagingTimeout');
        return true;
      });
      assert.equal(started, 1);
      release();
      // The late reply is dropped, and the topic keeps working.
      await sleep(SETTLE_MS);
      assert.equal(await a.call(topic, rpcMessage('again'), 5000), 'late');
      await sub.close();
    });

    it('a call to a topic nobody serves times out', async () => {
      await assert.rejects(a.call(fabric.topic('nobody'), rpcMessage('hello'), 200), RpcTimeout);
    });

    it('each cast is delivered once, to one listener', async () => {
      const topic = fabric.topic('cast');
      const tally = new Tally();
      const sub = await b.serve(topic, async (msg) => tally.add(msg));
      const sent = Array.from({ length: 20 }, (_, i) => rpcMessage('build', { i }));
      for (const msg of sent) await a.cast(topic, msg);
      await waitFor('20 casts', () => tally.distinct === 20);
      await sleep(SETTLE_MS);
      assert.equal(tally.total, 20);
      assert.deepEqual(new Set(tally.order.map((m) => m.args.i)), new Set(sent.map((m) => m.args.i)));
      await sub.close();
    });

    it('a failing cast handler does not stop the topic', async () => {
      const topic = fabric.topic('failing');
      const tally = new Tally();
      const sub = await b.serve(topic, async (msg) => {
        tally.add(msg);
        if (msg.method === 'explode') throw new Error('handler failed');
      });
      await a.cast(topic, rpcMessage('explode'));
      await a.cast(topic, rpcMessage('fine'));
      await waitFor('both casts', () => tally.distinct === 2);
      await sleep(SETTLE_MS);
      assert.equal(tally.total, 2, 'a failed cast is not redelivered');
      await sub.close();
    });

    it('a cast whose handler failed for a reason that may pass (503, a timed-out call) is delivered again and runs again; any other failure is not', async () => {
      const topic = fabric.topic('again');
      const runs = new Map<string, number>();
      const sub = await b.serve(topic, async (msg) => {
        const n = (runs.get(msg.method) ?? 0) + 1;
        runs.set(msg.method, n);
        if (msg.method === 'unavailable' && n === 1) throw new ServiceUnavailable('the database is unavailable');
        if (msg.method === 'timed-out' && n === 1) throw new RpcTimeout('other', 'm', 1);
        if (msg.method === 'broken') throw new Error('a bug');
      });
      for (const method of ['unavailable', 'timed-out', 'broken']) await a.cast(topic, rpcMessage(method));
      await waitFor('the failed casts to run again', () => runs.get('unavailable') === 2 && runs.get('timed-out') === 2);
      await sleep(SETTLE_MS);
      assert.deepEqual(Object.fromEntries(runs), { unavailable: 2, 'timed-out': 2, broken: 1 });
      await sub.close();
    });

    it('casts to a topic nobody serves wait until a listener arrives', async () => {
      const topic = fabric.topic('waiting');
      const sent = [rpcMessage('one'), rpcMessage('two'), rpcMessage('three')];
      for (const msg of sent) await a.cast(topic, msg);
      const tally = new Tally();
      const sub = await b.serve(topic, async (msg) => tally.add(msg));
      await waitFor('the queued casts', () => tally.distinct === 3);
      await sleep(SETTLE_MS);
      assert.equal(tally.total, 3);
      assert.deepEqual(new Set(tally.counts.keys()), new Set(sent.map((m) => m.msgId)));
      await sub.close();
    });

    it('listeners of one topic share its messages', async () => {
      const topic = fabric.topic('shared');
      const c = await fabric.open();
      const first = new Tally();
      const second = new Tally();
      const slow = (tally: Tally) => async (msg: RpcMessage) => {
        tally.add(msg);
        await sleep(10);
      };
      const s1 = await b.serve(topic, slow(first));
      const s2 = await c.serve(topic, slow(second));
      const sent = Array.from({ length: 40 }, (_, i) => rpcMessage('work', { i }));
      await Promise.all(sent.map((msg) => a.cast(topic, msg)));
      await waitFor('40 casts', () => first.distinct + second.distinct === 40);
      await sleep(SETTLE_MS);
      assert.ok(first.total > 0 && second.total > 0, `both listeners got work (${first.total} + ${second.total})`);
      assert.equal(first.total + second.total, 40);
      const all = new Set([...first.counts.keys(), ...second.counts.keys()]);
      assert.equal(all.size, 40, 'no message went to both');
      await s1.close();
      await s2.close();
    });

    it('fanout reaches every fanout listener, and no plain listener', async () => {
      const topic = fabric.topic('fanout');
      const c = await fabric.open();
      const onB = new Tally();
      const onC = new Tally();
      const plain = new Tally();
      const subs = [
        await b.serve(topic, async (msg) => onB.add(msg), { fanout: true }),
        await c.serve(topic, async (msg) => onC.add(msg), { fanout: true }),
        await c.serve(topic, async (msg) => plain.add(msg)),
      ];
      const news = rpcMessage('update_capabilities', { n: 1 });
      await a.fanout(topic, news);
      await waitFor('both fanout listeners', () => onB.total >= 1 && onC.total >= 1);
      const direct = rpcMessage('direct');
      await a.cast(topic, direct);
      await waitFor('the plain listener', () => plain.total >= 1);
      await sleep(SETTLE_MS);
      assert.deepEqual(onB.order, [news]);
      assert.deepEqual(onC.order, [news]);
      assert.deepEqual(plain.order, [direct]);
      for (const s of subs) await s.close();
    });

    it('a topic moves between buses with serve and close, at run time', async () => {
      const topic = fabric.topic('node');
      const onA = new Tally();
      const onB = new Tally();
      const subA = await a.serve(topic, async (msg) => {
        onA.add(msg);
        return 'a';
      });
      assert.equal(await b.call(topic, rpcMessage('who'), 5000), 'a');
      await subA.close();
      // While nobody serves the topic, a cast waits for the next owner.
      const moved = rpcMessage('build_and_run_instance');
      await b.cast(topic, moved);
      const subB = await b.serve(topic, async (msg) => {
        onB.add(msg);
        return 'b';
      });
      assert.equal(await a.call(topic, rpcMessage('who'), 5000), 'b');
      await waitFor('the cast on the new owner', () => onB.counts.has(moved.msgId));
      await sleep(SETTLE_MS);
      assert.equal(onA.total, 1, 'the old owner got nothing after close');
      assert.equal(onB.total, 2);
      // And back again.
      await subB.close();
      const again = await a.serve(topic, async () => 'a again');
      assert.equal(await b.call(topic, rpcMessage('who'), 5000), 'a again');
      await again.close();
    });
  });
}
