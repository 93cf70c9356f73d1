import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/common/time.js';
import { AmqpBus } from '../../src/rpc/amqp-bus.js';
import { parseRabbitUrl } from '../../src/rpc/transport.js';
import { deleteBrokerObjects, RABBIT_URL, rabbitSkip } from '../support/rabbitmq.js';
import { TcpProxy } from '../support/tcp-proxy.js';
import { amqpFabric, type AmqpFabric } from './amqp-fabric.js';
import { busContract, rpcMessage, Tally, waitFor } from './bus-contract.js';

const skip = await rabbitSkip();

busContract('AMQP (RabbitMQ)', async () => amqpFabric(RABBIT_URL), skip);

describe('AMQP bus', { skip }, () => {
  let fabric: AmqpFabric;
  before(() => {
    fabric = amqpFabric(RABBIT_URL);
  });
  after(async () => {
    await fabric?.dispose();
  });

  it('is what a rabbit:// transport_url gives, and a closed one refuses new messages', async () => {
    const bus = await fabric.open();
    assert.ok(bus instanceof AmqpBus);
    await bus.close();
    await assert.rejects(bus.cast(fabric.topic('closed'), rpcMessage('late')), /closed/);
    await assert.rejects(bus.call(fabric.topic('closed'), rpcMessage('late'), 1000), /closed/);
  });

  it('close() lets running handlers finish and ack first', async () => {
    const topic = fabric.topic('drain');
    const server = await fabric.open();
    const client = await fabric.open();
    const tally = new Tally();
    let finished = 0;
    await server.serve(topic, async (msg) => {
      tally.add(msg);
      await sleep(200);
      finished++;
    });
    for (let i = 0; i < 5; i++) await client.cast(topic, rpcMessage('slow', { i }));
    await waitFor('all five started', () => tally.distinct === 5);
    await server.close();
    assert.equal(finished, 5);
    // Acked: a new listener gets none of them again.
    const again = new Tally();
    const next = await client.serve(topic, async (msg) => again.add(msg));
    const marker = rpcMessage('marker');
    await client.cast(topic, marker);
    await waitFor('the marker', () => again.counts.has(marker.msgId));
    assert.deepEqual(again.order, [marker]);
    await next.close();
  });

  it('a topic queue deleted under its consumer is declared and consumed again', async () => {
    const topic = fabric.topic('deleted');
    const server = await fabric.open();
    const client = await fabric.open();
    const tally = new Tally();
    await server.serve(topic, async (msg) => {
      tally.add(msg);
      return 'here';
    });
    await client.cast(topic, rpcMessage('before'));
    await waitFor('the first cast', () => tally.total === 1);
    await deleteBrokerObjects(RABBIT_URL, { queues: [topic] });
    // The client still believes the queue exists: the broker returns the cast, the client
    // declares the queue again and resends; the server's consumer, cancelled, comes back.
    const after = rpcMessage('after');
    await client.cast(topic, after);
    await waitFor('the cast after the deletion', () => tally.counts.has(after.msgId));
    assert.equal(await client.call(topic, rpcMessage('still'), 5000), 'here');
    assert.equal(tally.total, 3);
  });

  it('survives the broker connection cut for ~3 s during a stream of 200 casts: each handled exactly once', async (t) => {
    const [broker] = parseRabbitUrl(RABBIT_URL);
    const proxy = await TcpProxy.start(broker!.hostname, broker!.port);
    const viaProxy = amqpFabric(`rabbit://${broker!.username}:${broker!.password}@127.0.0.1:${proxy.port}/`, RABBIT_URL);
    try {
      const topic = viaProxy.topic('storm');
      const receiver = await viaProxy.open();
      const sender = await viaProxy.open();
      const tally = new Tally();
      await receiver.serve(topic, async (msg) => {
        if (msg.method === 'ping') return 'pong';
        tally.add(msg);
        await sleep(5); // so that some deliveries are in flight, unacked, when the cut comes
        return null;
      });
      const news = new Tally();
      await receiver.serve(topic, async (msg) => news.add(msg), { fanout: true });

      const casts: Promise<void>[] = [];
      const confirmed: boolean[] = [];
      let duringCut: Promise<unknown> | undefined;
      let restored: Promise<void> | undefined;
      let settledBeforeRestore = -1;
      for (let i = 0; i < 200; i++) {
        if (i === 30) {
          proxy.cut();
          restored = sleep(3000).then(() => {
            settledBeforeRestore = confirmed.slice(30).filter(Boolean).length;
            proxy.restore();
          });
          // A call issued while cut off is sent after the reconnect, within its timeout.
          duringCut = sender.call(topic, rpcMessage('ping'), 15_000);
          duringCut.catch(() => {});
        }
        const cast = sender.cast(topic, rpcMessage('build', { i }));
        cast.then(() => (confirmed[i] = true), () => {});
        casts.push(cast);
        await sleep(20);
      }
      await restored;
      await Promise.all(casts);
      assert.equal(settledBeforeRestore, 0, 'a cast resolves only once the broker confirmed it');
      assert.equal(await duringCut, 'pong');
      await waitFor('200 casts handled', () => tally.distinct === 200, 30_000);
      await sleep(300);
      assert.deepEqual(tally.duplicates(), []);
      assert.equal(tally.total, 200);
      assert.equal(await sender.call(topic, rpcMessage('ping'), 5000), 'pong');
      assert.ok(sender.reconnects >= 1 && receiver.reconnects >= 1, 'both buses reconnected');
      // The fanout listener is back too (on a new queue: fanouts sent while it was away are gone).
      for (let tries = 0; news.total === 0 && tries < 50; tries++) {
        await sender.fanout(topic, rpcMessage('hello'));
        await waitFor('a fanout', () => news.total > 0, 200).catch(() => {});
      }
      assert.ok(news.total > 0, 'the fanout listener was re-established');
      t.diagnostic(`proxy connections: ${proxy.connections}; redeliveries recognised: ${receiver.duplicatesIgnored}`);
    } finally {
      await viaProxy.dispose();
      await proxy.close();
    }
  });
});
