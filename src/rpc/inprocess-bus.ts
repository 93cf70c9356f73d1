import { errorMessage, fromWireError, toWireError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { type Bus, mayPassLater, type RpcHandler, type RpcMessage, RpcTimeout, type Subscription } from './bus.js';

/** How long a cast whose handler failed for a reason that may pass waits before it is delivered again. */
const REDELIVERY_DELAY_MS = 1000;

/**
 * The embedded bus: topics are maps of handlers in this process. Messages are copied through
 * JSON so that nothing but wire-safe data crosses it, as on AMQP. Casts to a topic nobody
 * listens on wait in a queue until a listener arrives, as they would in a durable queue.
 * Once closed, it refuses new messages and fails the calls still waiting, as the AMQP bus does.
 * A cast whose handler failed for a reason that may pass (mayPassLater) is delivered again.
 */
export class InProcessBus implements Bus {
  private readonly topics = new Map<string, RpcHandler[]>();
  private readonly fanouts = new Map<string, Set<RpcHandler>>();
  private readonly pending = new Map<string, RpcMessage[]>();
  private readonly cursor = new Map<string, number>();
  private readonly deliveries: Array<() => void> = [];
  /** Rejects each call still waiting for its reply (when the bus closes). */
  private readonly waiting = new Set<(err: Error) => void>();
  private closed = false;

  constructor(private readonly log?: Logger) {}

  private assertOpen(): void {
    if (this.closed) throw new Error('The RPC bus is closed');
  }

  private pick(topic: string): RpcHandler | undefined {
    const handlers = this.topics.get(topic);
    if (!handlers || handlers.length === 0) return undefined;
    const i = (this.cursor.get(topic) ?? 0) % handlers.length;
    this.cursor.set(topic, i + 1);
    return handlers[i];
  }

  async call(topic: string, msg: RpcMessage, timeoutMs: number): Promise<unknown> {
    this.assertOpen();
    const handler = this.pick(topic);
    if (!handler) throw new RpcTimeout(topic, msg.method, timeoutMs);
    const copy = JSON.parse(JSON.stringify(msg)) as RpcMessage;
    let timer: NodeJS.Timeout | undefined;
    let fail!: (err: Error) => void;
    const timeout = new Promise<never>((_, reject) => {
      fail = reject;
      timer = setTimeout(() => reject(new RpcTimeout(topic, msg.method, timeoutMs)), timeoutMs);
    });
    this.waiting.add(fail);
    try {
      const result = await Promise.race([
        handler(copy).then(
          (r) => (r === undefined ? null : JSON.parse(JSON.stringify(r))),
          (err: unknown) => {
            throw fromWireError(toWireError(err));
          },
        ),
        timeout,
      ]);
      return result;
    } finally {
      clearTimeout(timer);
      this.waiting.delete(fail);
    }
  }

  async cast(topic: string, msg: RpcMessage): Promise<void> {
    this.assertOpen();
    const handler = this.pick(topic);
    const copy = JSON.parse(JSON.stringify(msg)) as RpcMessage;
    if (!handler) {
      const queue = this.pending.get(topic) ?? [];
      queue.push(copy);
      this.pending.set(topic, queue);
      return;
    }
    this.deliver(topic, handler, copy, true);
  }

  async fanout(topic: string, msg: RpcMessage): Promise<void> {
    this.assertOpen();
    for (const handler of this.fanouts.get(topic) ?? []) {
      this.deliver(topic, handler, JSON.parse(JSON.stringify(msg)) as RpcMessage);
    }
  }

  private deliver(topic: string, handler: RpcHandler, msg: RpcMessage, isCast = false): void {
    this.deliveries.push(() => {
      handler(msg).catch((err: unknown) => {
        if (isCast && mayPassLater(err) && !this.closed) {
          // As a broker's queue would: delivered again, a moment later (at once it would most likely fail the same way).
          this.log?.warn({ err: errorMessage(err), topic, method: msg.method }, 'cast handler failed for now; to be delivered again');
          setTimeout(() => {
            if (!this.closed) void this.cast(topic, msg).catch(() => undefined);
          }, REDELIVERY_DELAY_MS).unref();
          return;
        }
        this.log?.error({ err, topic, method: msg.method }, 'cast handler failed');
      });
    });
    if (this.deliveries.length === 1) setImmediate(this.deliverNext);
  }

  /**
   * Casts are delivered on later ticks, as a broker would (the sender never runs the handler
   * inline), one per turn of the event loop: a turn first takes every HTTP request that has
   * arrived, so a backlog of casts (a boot storm's builds) cannot make API requests wait behind
   * all of it, and the backlog still moves on every turn.
   */
  private readonly deliverNext = (): void => {
    const next = this.deliveries.shift();
    if (this.deliveries.length > 0) setImmediate(this.deliverNext);
    next?.();
  };

  async serve(topic: string, handler: RpcHandler, opts: { fanout?: boolean } = {}): Promise<Subscription> {
    this.assertOpen();
    if (opts.fanout) {
      const set = this.fanouts.get(topic) ?? new Set();
      set.add(handler);
      this.fanouts.set(topic, set);
      return { close: async () => void set.delete(handler) };
    }
    const handlers = this.topics.get(topic) ?? [];
    handlers.push(handler);
    this.topics.set(topic, handlers);
    const queued = this.pending.get(topic);
    if (queued) {
      this.pending.delete(topic);
      for (const msg of queued) this.deliver(topic, handler, msg, true);
    }
    return {
      close: async () => {
        const list = this.topics.get(topic);
        if (list) this.topics.set(topic, list.filter((h) => h !== handler));
      },
    };
  }

  /** Refuses new messages, drops the casts not yet delivered (as a process that exits would) and fails waiting calls. */
  async close(): Promise<void> {
    this.closed = true;
    this.topics.clear();
    this.fanouts.clear();
    this.pending.clear();
    this.deliveries.length = 0;
    for (const fail of this.waiting) fail(new Error('The RPC bus was closed'));
    this.waiting.clear();
  }
}
