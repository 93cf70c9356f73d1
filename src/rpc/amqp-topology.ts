import type { Channel, Options } from 'amqplib';
import { newHexId } from '../common/ids.js';

/**
 * What the AMQP bus declares on the broker, named as Nova's oslo.messaging names it so that an
 * operator's `rabbitmqctl list_queues` reads the same:
 *
 * - `<exchange>` (default `orrery`, Nova's control_exchange): a durable topic exchange; every
 *   call and cast is published to it with the topic as routing key.
 * - `<topic>`: a durable queue bound to it by the topic itself. Every process serving a topic
 *   consumes from it (competing consumers); casts to it are persistent, so they survive a
 *   broker restart and wait there while nobody serves the topic.
 * - `<topic>_fanout`: a non-durable fanout exchange per topic; each fanout listener has its own
 *   exclusive, auto-delete queue `<topic>_fanout_<hex>` bound to it.
 * - `reply_<hex>`: one exclusive, auto-delete reply queue per bus connection.
 */
export const TOPIC_EXCHANGE_TYPE = 'topic';

export const topicQueueName = (topic: string): string => topic;
export const fanoutExchangeName = (topic: string): string => `${topic}_fanout`;
export const fanoutQueueName = (topic: string): string => `${topic}_fanout_${newHexId()}`;
export const replyQueueName = (): string => `reply_${newHexId()}`;

const EXCHANGE: Options.AssertExchange = { durable: true, autoDelete: false };
const TOPIC_QUEUE: Options.AssertQueue = { durable: true, autoDelete: false, exclusive: false };
const FANOUT_EXCHANGE: Options.AssertExchange = { durable: false, autoDelete: false };
const PRIVATE_QUEUE: Options.AssertQueue = { durable: false, autoDelete: true, exclusive: true };

export async function declareExchange(ch: Channel, exchange: string): Promise<void> {
  await ch.assertExchange(exchange, TOPIC_EXCHANGE_TYPE, EXCHANGE);
}

/** The durable queue of a topic, bound to the control exchange; idempotent. */
export async function declareTopic(ch: Channel, exchange: string, topic: string): Promise<string> {
  const queue = topicQueueName(topic);
  await ch.assertQueue(queue, TOPIC_QUEUE);
  await ch.bindQueue(queue, exchange, topic);
  return queue;
}

export async function declareFanoutExchange(ch: Channel, topic: string): Promise<string> {
  const exchange = fanoutExchangeName(topic);
  await ch.assertExchange(exchange, 'fanout', FANOUT_EXCHANGE);
  return exchange;
}

/** A fresh queue of one fanout listener, gone when its consumer or connection goes. */
export async function declareFanoutListener(ch: Channel, topic: string): Promise<string> {
  const exchange = await declareFanoutExchange(ch, topic);
  const queue = fanoutQueueName(topic);
  await ch.assertQueue(queue, PRIVATE_QUEUE);
  await ch.bindQueue(queue, exchange, '');
  return queue;
}

export async function declareReplyQueue(ch: Channel): Promise<string> {
  const queue = replyQueueName();
  await ch.assertQueue(queue, PRIVATE_QUEUE);
  return queue;
}
