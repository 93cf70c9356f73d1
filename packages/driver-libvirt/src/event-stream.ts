/**
 * libvirt's domain events, from one long-running `virsh event --all --loop` process per
 * driver. Its lines look like
 *
 *   event 'lifecycle' for domain 'orrery-h-<uuid>': Stopped Destroyed
 *   event 'reboot' for domain 'orrery-h-<uuid>'
 *
 * (some event kinds continue on tab-indented lines, which are skipped). If the process dies
 * (libvirtd restarted, killed), it is started again with a growing delay, and the driver is
 * told so it can look for transitions it missed.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import type { Logger } from '@orrery/virt-api';

export interface DomainEvent {
  /** 'lifecycle', 'reboot', … */
  kind: string;
  domain: string;
  /** For lifecycle events: the event and its detail, e.g. "Stopped" and "Destroyed". */
  event: string;
  detail: string;
}

const LINE = /^(?:.*?: )?event '([\w-]+)' for domain '([^']+)'(?::\s*(.*))?$/;

/** One line of `virsh event` output, or null for lines that are not an event header. */
export function parseEventLine(line: string): DomainEvent | null {
  if (line.startsWith('\t') || line.startsWith(' ')) return null;
  const m = LINE.exec(line.trimEnd());
  if (!m) return null;
  const [event = '', ...rest] = (m[3] ?? '').trim().split(/\s+/);
  return { kind: m[1]!, domain: m[2]!, event: m[1] === 'lifecycle' ? event : '', detail: m[1] === 'lifecycle' ? rest.join(' ') : (m[3] ?? '').trim() };
}

export interface EventStreamOptions {
  uri: string;
  log: Logger;
  onEvent(e: DomainEvent): void;
  /**
   * Makes libvirt emit an event naming `domain` (the driver defines and undefines a probe
   * domain): seeing it proves the stream is subscribed.
   */
  probe(domain: string): Promise<void>;
  /** The probe domain's name (unique per call). */
  probeName(): string;
  /** Called after the stream came back from a death, once it is subscribed again. */
  onRestart(): void;
}

export class EventStream {
  #child: ChildProcess | null = null;
  #stopped = false;
  #restartDelayMs = 500;
  #restartTimer: NodeJS.Timeout | null = null;
  #waiters = new Map<string, () => void>();

  constructor(private readonly opts: EventStreamOptions) {}

  /** Starts the stream and resolves once it is subscribed (proved by a probe event). */
  async start(timeoutMs = 30_000): Promise<void> {
    this.#spawn();
    await this.#awaitSubscribed(timeoutMs);
  }

  /** The virsh event process's pid (tests kill it to check the restart). */
  get pid(): number | undefined {
    return this.#child?.pid;
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const child = this.#child;
    this.#child = null;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise((r) => child.once('exit', r));
      child.kill('SIGTERM');
      await Promise.race([exited, new Promise((r) => setTimeout(r, 2000))]);
      if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    }
  }

  #spawn(): void {
    const child = spawn('virsh', ['-q', '-c', this.opts.uri, 'event', '--all', '--loop'], { stdio: ['ignore', 'pipe', 'pipe'] });
    this.#child = child;
    let stderr = '';
    child.stderr!.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-2000)));
    createInterface({ input: child.stdout! }).on('line', (line) => {
      const e = parseEventLine(line);
      if (!e) return;
      const waiter = this.#waiters.get(e.domain);
      if (waiter) waiter();
      else this.opts.onEvent(e);
    });
    child.once('error', (err) => this.opts.log.error('libvirt event stream failed to start', { err: err.message }));
    child.once('exit', (code, signal) => {
      if (this.#stopped || this.#child !== child) return;
      this.#child = null;
      this.opts.log.warn('libvirt event stream ended; restarting it', { code, signal, stderr: stderr.trim() });
      this.#scheduleRestart();
    });
  }

  #scheduleRestart(): void {
    const delay = this.#restartDelayMs;
    this.#restartDelayMs = Math.min(delay * 2, 10_000);
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = null;
      if (this.#stopped) return;
      this.#spawn();
      this.#awaitSubscribed(30_000).then(
        () => {
          this.#restartDelayMs = 500;
          this.opts.onRestart();
        },
        (err: unknown) => {
          this.opts.log.warn('libvirt event stream did not come back', { err: err instanceof Error ? err.message : String(err) });
          // The process may still be alive but unsubscribed: start over.
          const child = this.#child;
          this.#child = null;
          child?.kill('SIGKILL');
          if (!this.#stopped) this.#scheduleRestart();
        },
      );
    }, delay);
    this.#restartTimer.unref();
  }

  /** Defines and undefines probe domains until the stream reports one. */
  async #awaitSubscribed(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    let lastErr: unknown = null;
    while (Date.now() < deadline && !this.#stopped) {
      const name = this.opts.probeName();
      const seen = new Promise<boolean>((resolve) => {
        const t = setTimeout(() => resolve(false), 1000);
        this.#waiters.set(name, () => {
          clearTimeout(t);
          resolve(true);
        });
      });
      try {
        await this.opts.probe(name);
        if (await seen) return;
      } catch (err) {
        lastErr = err;
        await new Promise((r) => setTimeout(r, 250));
      } finally {
        this.#waiters.delete(name);
      }
    }
    throw lastErr ?? new Error(`libvirt event stream not subscribed within ${timeoutMs} ms`);
  }
}
