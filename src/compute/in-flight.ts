import { Aborted } from '@orrery/virt-api';

/**
 * The long driver calls a compute service has under way (spawn, snapshot, destroy), each with
 * the AbortSignal it was handed (contract 1.1 CallOptions). Stopping the service aborts them
 * all, so a stop does not wait out a hung back-end and a 1.1 driver stops the work itself;
 * the guard answers the caller at once even for a 1.0 driver, which never sees the signal.
 */
export class InFlightCalls {
  readonly #calls = new Map<AbortController, Promise<unknown>>();
  #stopped: Error | null = null;

  /** How many calls are under way. */
  get size(): number {
    return this.#calls.size;
  }

  /** Runs `call` with a signal that `abortAll` aborts; refused at once once stopping. */
  async run<T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> {
    const ac = new AbortController();
    if (this.#stopped) ac.abort(this.#stopped);
    const p = call(ac.signal);
    this.#calls.set(ac, p);
    try {
      return await p;
    } finally {
      this.#calls.delete(ac);
    }
  }

  /**
   * Aborts every call under way, and any started afterwards, with Aborted(`reason`); resolves
   * once they have all settled or `waitMs` passed (a 1.0 driver's call may never settle).
   */
  async abortAll(reason: string, waitMs: number): Promise<void> {
    this.#stopped ??= new Aborted(reason);
    const pending = [...this.#calls];
    for (const [ac] of pending) ac.abort(this.#stopped);
    let timer: NodeJS.Timeout | undefined;
    await Promise.race([
      Promise.allSettled(pending.map(([, p]) => p)),
      new Promise((r) => (timer = setTimeout(r, waitMs))),
    ]);
    clearTimeout(timer);
  }
}
