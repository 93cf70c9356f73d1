import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { sleep } from '../../src/common/time.js';
import type { RpcMessage } from '../../src/rpc/bus.js';
import { PrivateBroker, privateBrokerSkip } from '../support/rabbitmq.js';
import { amqpFabric, type AmqpFabric } from './amqp-fabric.js';
import { rpcMessage, Tally, waitFor } from './bus-contract.js';

/**
 * A broker of the test's own (never the shared one) stopped and restarted under load: casts are
 * persistent messages in durable queues, so every cast the broker confirmed is still there after
 * the restart, and deliveries whose acks died with the broker are recognised when redelivered.
 */
describe('AMQP bus across a broker restart', { skip: privateBrokerSkip() }, () => {
  let broker: PrivateBroker;
  let fabric: AmqpFabric;
  before(async () => {
    broker = await PrivateBroker.launch();
    fabric = amqpFabric(broker.url);
  });
  after(async () => {
    try {
      if (broker?.running) await fabric?.dispose();
    } finally {
      await broker?.dispose();
    }
  });

  it('every confirmed cast is handled exactly once after the broker restarts', async (t) => {
    const topic = fabric.topic('restart');
    const receiver = await fabric.open();
    const sender = await fabric.open();
    const tally = new Tally();
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    await receiver.serve(topic, async (msg: RpcMessage) => {
      if (msg.method === 'ping') return 'pong';
      tally.add(msg);
      // Held until the broker is back: these deliveries' acks die with the broker.
      await gate;
      return null;
    });

    // Confirmed before the stop: some delivered and unacked, the rest waiting in the queue.
    const before = Array.from({ length: 60 }, (_, i) => rpcMessage('build', { i }));
    await Promise.all(before.map((msg) => sender.cast(topic, msg)));
    await waitFor('the receiver to hold a prefetch of deliveries', () => tally.distinct >= 20);

    // A stream of casts across the stop and the restart.
    const casts: Promise<void>[] = [];
    let restart: Promise<void> | undefined;
    for (let i = 60; i < 150; i++) {
      if (i === 70) {
        restart = (async () => {
          await broker.stop();
          await broker.start();
        })();
      }
      const cast = sender.cast(topic, rpcMessage('build', { i }));
      cast.catch(() => {});
      casts.push(cast);
      await sleep(20);
    }
    await restart;
    release();
    await Promise.all(casts);
    await waitFor('150 casts handled', () => tally.distinct === 150, 30_000);
    await sleep(300);
    assert.deepEqual(tally.duplicates(), []);
    assert.equal(tally.total, 150);
    assert.ok(receiver.duplicatesIgnored > 0, 'the deliveries held across the restart came again and were recognised');
    assert.equal(await sender.call(topic, rpcMessage('ping'), 5000), 'pong');
    t.diagnostic(`redeliveries recognised: ${receiver.duplicatesIgnored}; reconnects: sender ${sender.reconnects}, receiver ${receiver.reconnects}`);
  });
});
