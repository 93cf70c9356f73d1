/**
 * Docker's event stream as the driver's lifecycle events. The daemon reports every container
 * transition (start, die, pause, unpause, destroy) whoever caused it, so a container killed
 * behind Orrery's back is reported stopped like one Orrery stopped. The stream is filtered to
 * this host's containers by label; when it breaks it is opened again and the driver resyncs
 * (what changed meanwhile is reported from a fresh listing).
 */
import { PowerState, type Logger } from '@orrery/virt-api';
import { LABEL } from './container-spec.js';
import { messageOf, type Engine } from './engine.js';

/** One container event as the Engine API sends it (one JSON object per line). */
export interface ContainerEvent {
  Type?: string;
  Action?: string;
  status?: string;
  Actor?: { ID?: string; Attributes?: Record<string, string> };
}

/** The power state an event leaves a container in, 'gone' for its removal, null for the others. */
export function powerStateAfter(action: string): PowerState | 'gone' | null {
  switch (action) {
    case 'start':
    case 'unpause':
      return PowerState.RUNNING;
    case 'pause':
      return PowerState.PAUSED;
    case 'die':
      return PowerState.SHUTDOWN;
    case 'destroy':
      return 'gone';
    default:
      return null; // create, kill (a die follows), oom (a die follows), exec_*, …
  }
}

export interface EventStreamOptions {
  engine: Engine;
  host: string;
  log: Logger;
  onEvent(uuid: string, next: PowerState | 'gone', action: string): void;
  /** Called after the stream was opened again: the driver compares a fresh listing with what it knew. */
  onReopen(): void;
}

/** Reopening waits this long after a failure, so a dead daemon is not hammered. */
const RETRY_MS = 1000;

export class EventStream {
  #stream: NodeJS.ReadableStream | null = null;
  #stopped = false;
  #retry: NodeJS.Timeout | null = null;

  constructor(private readonly opts: EventStreamOptions) {}

  /** Opens the stream; resolves once the daemon has answered the subscription. */
  async start(): Promise<void> {
    await this.#open();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#retry) clearTimeout(this.#retry);
    this.#retry = null;
    const s = this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null;
    this.#stream = null;
    s?.destroy?.();
  }

  /** Breaks the connection as a daemon restart would (tests check the reopen and resync). */
  interrupt(): void {
    (this.#stream as (NodeJS.ReadableStream & { destroy?: () => void }) | null)?.destroy?.();
  }

  async #open(): Promise<void> {
    const stream = await this.opts.engine.getEvents({
      filters: { type: ['container'], label: [`${LABEL.host}=${this.opts.host}`] },
    });
    if (this.#stopped) {
      (stream as NodeJS.ReadableStream & { destroy?: () => void }).destroy?.();
      return;
    }
    this.#stream = stream;
    let buf = '';
    stream.on('data', (chunk: Buffer | string) => {
      buf += chunk.toString();
      let nl: number;
      while ((nl = buf.indexOf('\n')) >= 0) {
        const line = buf.slice(0, nl).trim();
        buf = buf.slice(nl + 1);
        if (line !== '') this.#line(line);
      }
    });
    const broken = (why: string) => {
      if (this.#stream !== stream || this.#stopped) return;
      this.#stream = null;
      this.opts.log.warn('docker: the event stream broke; reopening', { why });
      this.#scheduleReopen();
    };
    stream.on('error', (err: unknown) => broken(messageOf(err)));
    stream.on('end', () => broken('the daemon closed it'));
    stream.on('close', () => broken('closed'));
  }

  #scheduleReopen(): void {
    this.#retry = setTimeout(() => {
      this.#retry = null;
      if (this.#stopped) return;
      this.#open().then(() => this.opts.onReopen(), (err: unknown) => {
        this.opts.log.warn('docker: cannot reopen the event stream', { err: messageOf(err) });
        this.#scheduleReopen();
      });
    }, RETRY_MS);
    this.#retry.unref();
  }

  #line(line: string): void {
    let e: ContainerEvent;
    try {
      e = JSON.parse(line) as ContainerEvent;
    } catch {
      return;
    }
    const uuid = e.Actor?.Attributes?.[LABEL.instance];
    const action = e.Action ?? e.status ?? '';
    if (e.Type !== 'container' || typeof uuid !== 'string') return;
    const next = powerStateAfter(action);
    if (next !== null) this.opts.onEvent(uuid, next, action);
  }
}
