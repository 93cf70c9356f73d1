import { newHexId } from '../../src/common/ids.js';
import { createLogger } from '../../src/common/logging.js';
import type { AmqpBus, AmqpBusOptions } from '../../src/rpc/amqp-bus.js';
import { fanoutExchangeName, topicQueueName } from '../../src/rpc/amqp-topology.js';
import { createBus } from '../../src/rpc/transport.js';
import { deleteBrokerObjects } from '../support/rabbitmq.js';
import type { BusFabric } from './bus-contract.js';

export interface AmqpFabric extends BusFabric {
  open(): Promise<AmqpBus>;
  readonly exchange: string;
}

/**
 * Buses on one broker, as separate service processes would have them: each its own connection,
 * all on a control exchange of this run's own. `dispose()` closes them and deletes everything
 * the run declared (through `adminUrl`, the broker itself, when the buses go through a proxy).
 */
export function amqpFabric(url: string, adminUrl = url, opts: AmqpBusOptions = {}): AmqpFabric {
  const run = newHexId().slice(0, 8);
  const exchange = `orrery-test-${run}`;
  const log = createLogger('test', process.env.ORRERY_LOG_LEVEL ?? 'silent');
  const buses: AmqpBus[] = [];
  const topics = new Set<string>();
  return {
    exchange,
    async open() {
      const bus = (await createBus(url, log, { exchange, reconnect: { initialDelayMs: 50, maxDelayMs: 500 }, ...opts })) as AmqpBus;
      buses.push(bus);
      return bus;
    },
    topic(label) {
      const topic = `test.${label}.${run}`;
      topics.add(topic);
      return topic;
    },
    async dispose() {
      await Promise.all(buses.map((bus) => bus.close()));
      await deleteBrokerObjects(adminUrl, {
        queues: [...topics].map(topicQueueName),
        exchanges: [...[...topics].map(fanoutExchangeName), exchange],
      });
    },
  };
}
