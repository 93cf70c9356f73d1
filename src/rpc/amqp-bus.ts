import { connect, type Channel, type ChannelModel, type ConfirmChannel, type ConsumeMessage, type Options } from 'amqplib';
import { errorMessage, fromWireError, toWireError } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { busReconnects } from '../common/metrics.js';
import { sleep } from '../common/time.js';
import { DELIVER_AGAIN, handledInThisProcess, type HandledMessages, type Outcome } from './amqp-dedup.js';
import {
  declareExchange,
  declareFanoutExchange,
  declareFanoutListener,
  declareReplyQueue,
  declareTopic,
  fanoutExchangeName,
} from './amqp-topology.js';
import { type Bus, mayPassLater, type RpcHandler, type RpcMessage, type RpcReply, RpcTimeout, type Subscription } from './bus.js';

/** One broker address of a transport URL (Nova's form allows several, tried in turn). */
export interface AmqpEndpoint {
  protocol: 'amqp' | 'amqps';
  hostname: string;
  port: number;
  username: string;
  password: string;
  vhost: string;
}

export interface AmqpBusOptions {
  /** The topic exchange every call and cast goes through (Nova's control_exchange). */
  exchange?: string;
  /** Unacked messages a consumer may hold, i.e. how many handlers of one topic run at once. */
  prefetch?: number;
  heartbeatSeconds?: number;
  /** Reconnection backoff: doubles from initialDelayMs up to maxDelayMs, with ±20 % jitter. */
  reconnect?: { initialDelayMs?: number; maxDelayMs?: number };
  /** How long connect() keeps trying to reach a broker before it gives up. */
  startupTimeoutMs?: number;
  /** How long close() waits for running handlers and unconfirmed messages. */
  closeTimeoutMs?: number;
  /** How long a cast whose handler failed for a reason that may pass is held before it goes back to its queue. */
  redeliveryDelayMs?: number;
  /** Shown by `rabbitmqctl list_connections client_properties`. */
  connectionName?: string;
  /** Record of handled message ids; the process-wide one unless given. */
  handled?: HandledMessages;
}

type Kind = 'cast' | 'call' | 'fanout' | 'reply';

/** A message on its way to the broker: kept until the broker confirms it, resent after a reconnect. */
interface Outgoing {
  seq: number;
  kind: Kind;
  topic: string;
  exchange: string;
  routingKey: string;
  body: Buffer;
  props: Options.Publish;
  msgId: string;
  state: 'queued' | 'sent' | 'done';
  returned: boolean;
  confirmed(): void;
  failed(err: Error): void;
}

interface PendingCall {
  topic: string;
  method: string;
  timeoutMs: number;
  deadline: number;
  timer: NodeJS.Timeout;
  resolve(value: unknown): void;
  reject(err: Error): void;
}

interface Sub {
  id: number;
  topic: string;
  fanout: boolean;
  handler: RpcHandler;
  /** De-duplication scope: the queue's messages are shared by everyone serving the topic. */
  scope: string;
  closed: boolean;
  channel: Channel | null;
  consumerTag: string | null;
  attaching: Promise<void> | null;
  retryTimer: NodeJS.Timeout | null;
  inflight: Set<Promise<void>>;
}

/** One live connection and what was set up on it; replaced wholesale on reconnect. */
interface Link {
  conn: ChannelModel;
  pub: ConfirmChannel;
  replyQueue: string;
  alive: boolean;
  /** Topic queues and fanout exchanges declared on this connection (publishers declare before sending). */
  declared: Set<string>;
  /** Mandatory messages awaiting their confirm, by msgId, to learn whether the broker returned them. */
  returns: Map<string, Outgoing>;
}

const JSON_TYPE = 'application/json';
let nextSubId = 1;

/**
 * The bus over AMQP 0-9-1 (RabbitMQ). Casts are persistent messages on durable queues, published
 * with confirms: cast() resolves once the broker has them, and a cast issued while the
 * connection is down waits in memory and is published after the reconnect. Consumers ack after
 * their handler finished and recognise redeliveries by msgId, so a lost ack runs nothing twice;
 * a cast whose handler failed for a reason that may pass (503, a timed-out call) goes back to
 * its queue instead, to run again.
 * Calls are transient and simply time out if their connection is lost. See amqp-topology.ts for
 * what is declared on the broker.
 */
export class AmqpBus implements Bus {
  private readonly log: Logger;
  private readonly exchange: string;
  private readonly prefetch: number;
  private readonly heartbeat: number;
  private readonly initialDelayMs: number;
  private readonly maxDelayMs: number;
  private readonly closeTimeoutMs: number;
  private readonly redeliveryDelayMs: number;
  private readonly connectionName: string;
  private readonly handled: HandledMessages;

  private state: 'starting' | 'open' | 'closing' | 'closed' = 'starting';
  private link: Link | null = null;
  private attempt = 0;
  private everConnected = false;
  private reconnectTimer: NodeJS.Timeout | null = null;
  private closing: Promise<void> | null = null;

  private seq = 0;
  private backlog: Outgoing[] = [];
  private readonly outstanding = new Set<Outgoing>();
  private pumping = false;
  private pumpAgain = false;
  private pumpScheduled = false;

  private readonly calls = new Map<string, PendingCall>();
  private readonly subs = new Set<Sub>();

  /** Redeliveries recognised and not handled again (for tests and diagnostics). */
  duplicatesIgnored = 0;
  /** Connections re-established after a loss. */
  reconnects = 0;

  private constructor(
    private readonly endpoints: AmqpEndpoint[],
    log: Logger,
    opts: AmqpBusOptions,
  ) {
    if (endpoints.length === 0) throw new Error('An AMQP transport needs at least one broker address');
    this.log = log.child({ component: 'amqp-bus' });
    this.exchange = opts.exchange ?? 'orrery';
    this.prefetch = opts.prefetch ?? 32;
    this.heartbeat = opts.heartbeatSeconds ?? 10;
    this.initialDelayMs = opts.reconnect?.initialDelayMs ?? 200;
    this.maxDelayMs = opts.reconnect?.maxDelayMs ?? 5000;
    this.closeTimeoutMs = opts.closeTimeoutMs ?? 10_000;
    this.redeliveryDelayMs = opts.redeliveryDelayMs ?? 1000;
    this.connectionName = opts.connectionName ?? `orrery pid ${process.pid}`;
    this.handled = opts.handled ?? handledInThisProcess;
  }

  /** Connects (retrying with backoff for up to startupTimeoutMs) and returns the open bus. */
  static async connect(endpoints: AmqpEndpoint[], log: Logger, opts: AmqpBusOptions = {}): Promise<AmqpBus> {
    const bus = new AmqpBus(endpoints, log, opts);
    const giveUpAt = Date.now() + (opts.startupTimeoutMs ?? 30_000);
    for (;;) {
      try {
        await bus.openLink();
        bus.state = 'open';
        return bus;
      } catch (err) {
        if (Date.now() + bus.backoff() > giveUpAt) {
          throw new Error(`Cannot reach the AMQP broker at ${bus.describe(bus.attempt)}: ${errorMessage(err)}`);
        }
        bus.log.warn({ err: errorMessage(err), broker: bus.describe(bus.attempt) }, 'AMQP broker unreachable; retrying');
        await sleep(bus.backoff());
        bus.attempt++;
      }
    }
  }

  // ---- the Bus interface -------------------------------------------------------------------

  async call(topic: string, msg: RpcMessage, timeoutMs: number): Promise<unknown> {
    this.assertOpen();
    const body = encode(msg);
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.calls.delete(msg.msgId);
        reject(new RpcTimeout(topic, msg.method, timeoutMs));
      }, timeoutMs);
      this.calls.set(msg.msgId, { topic, method: msg.method, timeoutMs, deadline: Date.now() + timeoutMs, timer, resolve, reject });
      this.enqueue({
        kind: 'call',
        topic,
        exchange: this.exchange,
        routingKey: topic,
        body,
        msgId: msg.msgId,
        // correlation id = msgId; reply queue and expiry are filled in when it is actually sent
        props: { messageId: msg.msgId, correlationId: msg.msgId, type: msg.method, contentType: JSON_TYPE, mandatory: true },
        confirmed: () => {},
        failed: (err) => this.settleCall(msg.msgId, err),
      });
    });
  }

  async cast(topic: string, msg: RpcMessage): Promise<void> {
    this.assertOpen();
    const body = encode(msg);
    return new Promise<void>((resolve, reject) => {
      this.enqueue({
        kind: 'cast',
        topic,
        exchange: this.exchange,
        routingKey: topic,
        body,
        msgId: msg.msgId,
        props: { messageId: msg.msgId, type: msg.method, contentType: JSON_TYPE, persistent: true, mandatory: true },
        confirmed: resolve,
        failed: reject,
      });
    });
  }

  async fanout(topic: string, msg: RpcMessage): Promise<void> {
    this.assertOpen();
    const body = encode(msg);
    return new Promise<void>((resolve, reject) => {
      this.enqueue({
        kind: 'fanout',
        topic,
        exchange: fanoutExchangeName(topic),
        routingKey: '',
        body,
        msgId: msg.msgId,
        props: { messageId: msg.msgId, type: msg.method, contentType: JSON_TYPE },
        confirmed: resolve,
        failed: reject,
      });
    });
  }

  async serve(topic: string, handler: RpcHandler, opts: { fanout?: boolean } = {}): Promise<Subscription> {
    this.assertOpen();
    const id = nextSubId++;
    const fanout = opts.fanout === true;
    const sub: Sub = {
      id,
      topic,
      fanout,
      handler,
      scope: fanout ? `fanout ${id}` : `topic ${topic}`,
      closed: false,
      channel: null,
      consumerTag: null,
      attaching: null,
      retryTimer: null,
      inflight: new Set(),
    };
    this.subs.add(sub);
    const link = this.link;
    if (link?.alive) {
      try {
        await this.attach(link, sub);
      } catch (err) {
        // Lost with the connection: the reconnect attaches it. Refused by a live broker: say so.
        if (this.link === link && link.alive) {
          this.subs.delete(sub);
          sub.closed = true;
          throw err;
        }
      }
    }
    return { close: () => this.unsubscribe(sub) };
  }

  close(): Promise<void> {
    this.closing ??= this.shutdown();
    return this.closing;
  }

  // ---- connection and reconnection ---------------------------------------------------------

  connected(): boolean {
    return this.link?.alive === true;
  }

  private describe(attempt: number): string {
    const ep = this.endpoints[attempt % this.endpoints.length]!;
    return `${ep.protocol}://${ep.hostname}:${ep.port}/${ep.vhost === '/' ? '' : ep.vhost}`;
  }

  private backoff(): number {
    const base = Math.min(this.maxDelayMs, this.initialDelayMs * 2 ** Math.min(this.attempt, 20));
    return Math.min(this.maxDelayMs, Math.round(base * (0.8 + Math.random() * 0.4)));
  }

  private async openLink(): Promise<void> {
    const broker = this.describe(this.attempt);
    const ep = this.endpoints[this.attempt % this.endpoints.length]!;
    const conn = await connect(
      {
        protocol: ep.protocol,
        hostname: ep.hostname,
        port: ep.port,
        username: ep.username,
        password: ep.password,
        // amqplib unescapes the vhost it is given
        vhost: encodeURIComponent(ep.vhost),
        heartbeat: this.heartbeat,
      },
      { timeout: 10_000, clientProperties: { connection_name: this.connectionName } },
    );
    let link: Link | null = null;
    let lost = false;
    conn.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'AMQP connection error'));
    conn.on('blocked', (reason: string) => this.log.warn({ reason }, 'AMQP broker blocked publishing'));
    conn.on('unblocked', () => this.log.info('AMQP broker unblocked publishing'));
    conn.on('close', () => {
      lost = true;
      if (link) this.linkLost(link);
    });
    try {
      const pub = await conn.createConfirmChannel();
      pub.on('error', (err: Error) => this.log.warn({ err: errorMessage(err) }, 'AMQP publishing channel error'));
      pub.on('close', () => {
        // The publishing channel dies with its connection or by a protocol error; either way
        // start over on a fresh connection, the one recovery path.
        lost = true;
        if (link) link.alive = false;
        conn.close().catch(() => {});
      });
      pub.on('return', (m: ConsumeMessage) => {
        const item = link?.returns.get(String(m.properties.messageId));
        if (item) item.returned = true;
      });
      await declareExchange(pub, this.exchange);
      const replyQueue = await declareReplyQueue(pub);
      await pub.consume(replyQueue, (m) => m && this.onReply(m), { noAck: true });
      if (lost) throw new Error('connection lost while setting it up');
      if (this.state === 'closing' || this.state === 'closed') throw new Error('the bus is closing');
      link = { conn, pub, replyQueue, alive: true, declared: new Set(), returns: new Map() };
    } catch (err) {
      await conn.close().catch(() => {});
      throw err;
    }
    this.link = link;
    this.attempt = 0;
    if (this.everConnected) {
      this.reconnects++;
      busReconnects.inc();
    }
    this.everConnected = true;
    this.log.info({ broker, replyQueue: link.replyQueue }, 'AMQP connected');
    for (const sub of this.subs) this.attachLater(link, sub, 0);
    this.schedulePump();
  }

  private linkLost(link: Link): void {
    link.alive = false;
    if (this.link !== link) return;
    this.link = null;
    for (const sub of this.subs) {
      sub.channel = null;
      sub.consumerTag = null;
    }
    if (this.state !== 'open') return;
    this.log.warn({ outstanding: this.outstanding.size, pendingCalls: this.calls.size }, 'AMQP connection lost; reconnecting');
    this.scheduleReconnect();
  }

  private scheduleReconnect(): void {
    if (this.reconnectTimer || this.state !== 'open') return;
    const delay = this.backoff();
    this.reconnectTimer = setTimeout(() => {
      this.reconnectTimer = null;
      if (this.state !== 'open') return;
      this.openLink().catch((err: unknown) => {
        this.log.warn({ err: errorMessage(err), attempt: this.attempt + 1, broker: this.describe(this.attempt) }, 'AMQP reconnect failed');
        this.attempt++;
        this.scheduleReconnect();
      });
    }, delay);
  }

  // ---- publishing ----------------------------------------------------------------------------

  private assertOpen(): void {
    if (this.state !== 'open') throw new Error('The RPC bus is closed');
  }

  private enqueue(fields: Omit<Outgoing, 'seq' | 'state' | 'returned'>): void {
    const item: Outgoing = { ...fields, seq: this.seq++, state: 'queued', returned: false };
    this.outstanding.add(item);
    this.backlog.push(item);
    this.schedulePump();
  }

  /** Puts a message back in line, in its original order, to be sent again. */
  private requeue(item: Outgoing): void {
    if (item.state === 'done') return;
    item.state = 'queued';
    item.returned = false;
    let lo = 0;
    let hi = this.backlog.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (this.backlog[mid]!.seq < item.seq) lo = mid + 1;
      else hi = mid;
    }
    this.backlog.splice(lo, 0, item);
    this.schedulePump();
  }

  private finish(item: Outgoing, err?: Error): void {
    if (item.state === 'done') return;
    item.state = 'done';
    this.outstanding.delete(item);
    if (err) item.failed(err);
    else item.confirmed();
  }

  private schedulePump(): void {
    if (this.pumpScheduled) return;
    this.pumpScheduled = true;
    // On a later tick: confirm callbacks of a dying channel requeue before its close is seen.
    setImmediate(() => {
      this.pumpScheduled = false;
      void this.pump();
    });
  }

  private async pump(): Promise<void> {
    if (this.pumping) {
      this.pumpAgain = true;
      return;
    }
    this.pumping = true;
    try {
      for (;;) {
        const link = this.link;
        if (!link?.alive) break;
        const item = this.backlog.shift();
        if (!item) break;
        if (item.state !== 'queued') continue;
        try {
          await this.send(link, item);
        } catch (err) {
          if (link.alive && this.link === link) {
            // The channel is fine, so the message itself cannot be sent (amqplib refused it).
            this.log.error({ err: errorMessage(err), topic: item.topic }, 'AMQP publish refused');
            this.finish(item, err instanceof Error ? err : new Error(String(err)));
            continue;
          }
          this.requeue(item); // lost with the connection: sent again after the reconnect
          break;
        }
      }
    } finally {
      this.pumping = false;
      if (this.pumpAgain) {
        this.pumpAgain = false;
        this.schedulePump();
      }
    }
  }

  private async send(link: Link, item: Outgoing): Promise<void> {
    if (item.kind === 'cast' && !link.declared.has(`q ${item.topic}`)) {
      // The queue must exist before the first cast, or a cast to a topic nobody serves yet is lost.
      await declareTopic(link.pub, this.exchange, item.topic);
      link.declared.add(`q ${item.topic}`);
    } else if (item.kind === 'fanout' && !link.declared.has(`f ${item.topic}`)) {
      await declareFanoutExchange(link.pub, item.topic);
      link.declared.add(`f ${item.topic}`);
    }
    if (!link.alive) throw new Error('connection lost');
    const { mandatory, ...props } = item.props;
    if (item.kind === 'call') {
      const call = this.calls.get(item.msgId);
      if (!call) {
        this.finish(item); // timed out while waiting for the connection
        return;
      }
      props.replyTo = link.replyQueue;
      props.expiration = String(Math.max(1, call.deadline - Date.now()));
    }
    props.timestamp = Math.floor(Date.now() / 1000);
    link.pub.publish(item.exchange, item.routingKey, item.body, { ...props, mandatory }, (err: unknown) =>
      this.confirmed(link, item, err),
    );
    // A return arrives (before the confirm) from the socket, so never before this line.
    item.state = 'sent';
    if (mandatory) link.returns.set(item.msgId, item);
  }

  private confirmed(link: Link, item: Outgoing, err: unknown): void {
    if (link.returns.get(item.msgId) === item) link.returns.delete(item.msgId);
    if (item.state !== 'sent') return;
    if (err) {
      // Nacked, or its channel closed before the confirm: send it again (a receiver that already
      // has it recognises the duplicate by msgId).
      if (link.alive) setTimeout(() => this.requeue(item), 100);
      else this.requeue(item);
      return;
    }
    if (item.returned) {
      if (item.kind === 'call') {
        // No queue for the topic: nobody has ever served it.
        const call = this.calls.get(item.msgId);
        this.finish(item);
        if (call) this.settleCall(item.msgId, new RpcTimeout(call.topic, call.method, call.timeoutMs));
        return;
      }
      // A cast's queue vanished after this connection declared it: declare it again.
      link.declared.delete(`q ${item.topic}`);
      this.requeue(item);
      return;
    }
    this.finish(item);
  }

  // ---- calls ---------------------------------------------------------------------------------

  private settleCall(msgId: string, err: Error | null, result?: unknown): void {
    const call = this.calls.get(msgId);
    if (!call) return;
    this.calls.delete(msgId);
    clearTimeout(call.timer);
    if (err) call.reject(err);
    else call.resolve(result);
  }

  private onReply(m: ConsumeMessage): void {
    const id = m.properties.correlationId as string | undefined;
    if (!id || !this.calls.has(id)) return; // late (timed out) or a resent duplicate
    let reply: RpcReply;
    try {
      reply = JSON.parse(m.content.toString('utf8')) as RpcReply;
    } catch (err) {
      this.settleCall(id, new Error(`Unreadable RPC reply: ${errorMessage(err)}`));
      return;
    }
    if (reply.ok) this.settleCall(id, null, reply.result);
    else this.settleCall(id, fromWireError(reply.error));
  }

  // ---- consuming -----------------------------------------------------------------------------

  private attachLater(link: Link, sub: Sub, delayMs: number): void {
    if (sub.retryTimer) clearTimeout(sub.retryTimer);
    sub.retryTimer = setTimeout(() => {
      sub.retryTimer = null;
      if (sub.closed || this.link !== link || !link.alive || sub.channel) return;
      this.attach(link, sub).catch((err: unknown) => {
        if (sub.closed || this.link !== link || !link.alive) return;
        this.log.error({ err: errorMessage(err), topic: sub.topic }, 'cannot consume from topic; retrying');
        this.attachLater(link, sub, Math.min(this.maxDelayMs, Math.max(delayMs * 2, this.initialDelayMs)));
      });
    }, delayMs);
  }

  private attach(link: Link, sub: Sub): Promise<void> {
    const run = async (): Promise<void> => {
      const ch = await link.conn.createChannel();
      let chClosed = false;
      ch.on('error', (err: Error) => this.log.warn({ err: errorMessage(err), topic: sub.topic }, 'AMQP consumer channel error'));
      ch.on('close', () => {
        chClosed = true;
        this.consumerChannelClosed(link, sub, ch);
      });
      try {
        await ch.prefetch(this.prefetch);
        const queue = sub.fanout
          ? await declareFanoutListener(ch, sub.topic)
          : await declareTopic(ch, this.exchange, sub.topic);
        const { consumerTag } = await ch.consume(queue, (m) => this.onDelivery(sub, ch, m), { noAck: false });
        if (chClosed) throw new Error('channel closed while subscribing');
        sub.channel = ch;
        sub.consumerTag = consumerTag;
      } catch (err) {
        await ch.close().catch(() => {});
        throw err;
      }
    };
    const attaching = run().finally(() => {
      if (sub.attaching === attaching) sub.attaching = null;
    });
    sub.attaching = attaching;
    return attaching;
  }

  private consumerChannelClosed(link: Link, sub: Sub, ch: Channel): void {
    if (sub.channel !== ch) return;
    sub.channel = null;
    sub.consumerTag = null;
    // Closed alone (the broker cancelled the consumer or refused something) while the connection
    // lives: consume again. If the connection is going, the reconnect does it.
    if (!sub.closed && this.state === 'open') this.attachLater(link, sub, this.initialDelayMs);
  }

  private onDelivery(sub: Sub, ch: Channel, m: ConsumeMessage | null): void {
    if (m === null) {
      this.log.warn({ topic: sub.topic }, 'the broker cancelled a consumer; consuming again');
      ch.close().catch(() => {});
      return;
    }
    const handling = this.handle(sub, ch, m).catch((err: unknown) =>
      this.log.error({ err: errorMessage(err), topic: sub.topic }, 'delivery handling failed'),
    );
    sub.inflight.add(handling);
    void handling.finally(() => sub.inflight.delete(handling));
  }

  private async handle(sub: Sub, ch: Channel, m: ConsumeMessage): Promise<void> {
    let msg: RpcMessage;
    try {
      msg = JSON.parse(m.content.toString('utf8')) as RpcMessage;
      if (typeof msg?.msgId !== 'string' || typeof msg.method !== 'string') throw new Error('not an RPC message');
    } catch (err) {
      this.log.error({ err: errorMessage(err), topic: sub.topic }, 'dropping an unreadable message');
      ack(ch, m);
      return;
    }
    const replyTo = m.properties.replyTo as string | undefined;
    let outcome = this.handled.get(sub.scope, msg.msgId);
    if (outcome) {
      this.duplicatesIgnored++;
      this.log.info({ topic: sub.topic, method: msg.method, msgId: msg.msgId }, 'redelivered message already handled');
    } else {
      outcome = this.run(sub, msg, replyTo !== undefined);
      this.handled.set(sub.scope, msg.msgId, outcome);
    }
    const reply = await outcome;
    if (reply === DELIVER_AGAIN) {
      // Held a moment first: delivered again at once, it would most likely fail the same way.
      if (this.state === 'open') await sleep(this.redeliveryDelayMs);
      nack(ch, m);
      return;
    }
    if (replyTo && reply !== null) {
      // Acked once the broker has the reply: a process killed in between leaves the call to be
      // delivered again (and answered by another) rather than acked with its answer lost, which
      // would keep its caller waiting for the whole RPC timeout.
      await new Promise<void>((resolve) => this.enqueue({
        kind: 'reply',
        topic: sub.topic,
        exchange: '',
        routingKey: replyTo,
        body: Buffer.from(reply),
        msgId: msg.msgId,
        props: { correlationId: m.properties.correlationId as string, contentType: JSON_TYPE },
        confirmed: resolve,
        failed: (err) => {
          this.log.warn({ err: errorMessage(err), topic: sub.topic }, 'RPC reply not sent');
          resolve();
        },
      }));
    }
    ack(ch, m);
  }

  /**
   * Runs a handler; for a call, returns its serialized reply (errors travel as WireErrors). A
   * cast whose handler failed for a reason that may pass (mayPassLater) is to be delivered again.
   */
  private async run(sub: Sub, msg: RpcMessage, wantsReply: boolean): Promise<Outcome> {
    try {
      const result = await sub.handler(msg);
      return wantsReply ? JSON.stringify({ ok: true, result: result === undefined ? null : result } satisfies RpcReply) : null;
    } catch (err) {
      if (!wantsReply) {
        if (mayPassLater(err)) {
          this.log.warn({ err: errorMessage(err), topic: sub.topic, method: msg.method }, 'cast handler failed for now; to be delivered again');
          return DELIVER_AGAIN;
        }
        this.log.error({ err, topic: sub.topic, method: msg.method }, 'cast handler failed');
        return null;
      }
      return JSON.stringify({ ok: false, error: toWireError(err) } satisfies RpcReply);
    }
  }

  private async unsubscribe(sub: Sub): Promise<void> {
    if (sub.closed) return;
    sub.closed = true;
    this.subs.delete(sub);
    if (sub.retryTimer) clearTimeout(sub.retryTimer);
    await sub.attaching?.catch(() => {});
    const ch = sub.channel;
    if (ch && sub.consumerTag) await ch.cancel(sub.consumerTag).catch(() => {});
    // Let running handlers finish and ack, so nothing they started is redelivered elsewhere.
    const deadline = Date.now() + this.closeTimeoutMs;
    while (sub.inflight.size > 0 && Date.now() < deadline) {
      await settledWithin(Promise.allSettled([...sub.inflight]), deadline - Date.now());
    }
    sub.channel = null;
    await ch?.close().catch(() => {});
  }

  // ---- closing -------------------------------------------------------------------------------

  private async shutdown(): Promise<void> {
    if (this.state === 'closed') return;
    this.state = 'closing';
    if (this.reconnectTimer) clearTimeout(this.reconnectTimer);
    this.reconnectTimer = null;
    await Promise.all([...this.subs].map((sub) => this.unsubscribe(sub)));
    // Give unconfirmed messages (casts, replies of the handlers just finished) a chance to land.
    const deadline = Date.now() + this.closeTimeoutMs;
    while (this.outstanding.size > 0 && this.link?.alive && Date.now() < deadline) await sleep(10);
    for (const item of [...this.outstanding]) this.finish(item, new Error('The RPC bus closed before the broker confirmed this message'));
    this.backlog = [];
    for (const id of [...this.calls.keys()]) this.settleCall(id, new Error('The RPC bus was closed'));
    this.state = 'closed';
    const link = this.link;
    this.link = null;
    if (link) {
      link.alive = false;
      await link.conn.close().catch(() => {});
    }
  }
}

function encode(msg: RpcMessage): Buffer {
  return Buffer.from(JSON.stringify(msg));
}

/** Hands a message back to its queue, to be delivered again (to this consumer or another). */
function nack(ch: Channel, m: ConsumeMessage): void {
  try {
    ch.nack(m, false, true);
  } catch {
    // Its channel is gone: the broker delivers it again anyway.
  }
}

/** Acks on the channel the message came on; if that channel is gone the broker redelivers. */
function ack(ch: Channel, m: ConsumeMessage): void {
  try {
    ch.ack(m);
  } catch {
    // The duplicate will be recognised by its msgId.
  }
}

/** Waits for `p`, but no longer than `ms` (and leaves no timer behind). */
async function settledWithin(p: Promise<unknown>, ms: number): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([p, new Promise<void>((resolve) => (timer = setTimeout(resolve, Math.max(1, ms))))]);
  } finally {
    clearTimeout(timer);
  }
}
