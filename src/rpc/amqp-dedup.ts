/**
 * The outcome of a cast whose handler failed for a reason that may pass (its database or a
 * service it called was unreachable): the message is to be delivered again, and run again then.
 */
export const DELIVER_AGAIN = Symbol('deliver again');

/** How handling a message ended: the serialized reply of a call, null for a cast, or DELIVER_AGAIN. */
export type Outcome = string | null | typeof DELIVER_AGAIN;

interface Entry {
  outcome: Promise<Outcome>;
  bytes: number;
}

/**
 * Messages this process has handled (or is handling), by scope and msgId, so that a broker's
 * redelivery — a message whose ack was lost with its channel, or a call its sender published
 * again after losing the confirm — runs no side effect twice: the duplicate waits for the first
 * run and gets its outcome (the serialized reply of a call, to send again; null for a cast).
 * A run that ended in DELIVER_AGAIN is forgotten, so the redelivery it asks for runs: only a
 * message whose handling finished counts as handled.
 *
 * Bounded twice: by entries (the oldest go first; a hit refreshes one) and by the bytes of the
 * replies kept (past the budget the oldest replies are dropped but their ids stay known, so a
 * late duplicate still runs nothing, it just gets no reply again). A message redelivered to
 * ANOTHER process (its first consumer died before acking) is not caught here, so handlers must
 * still be idempotent across processes.
 */
export class HandledMessages {
  private readonly entries = new Map<string, Entry>();
  private replyBytes = 0;

  constructor(
    readonly capacity = 10_000,
    readonly replyBudgetBytes = 16 * 1024 * 1024,
  ) {}

  get(scope: string, msgId: string): Promise<Outcome> | undefined {
    const key = `${scope}\n${msgId}`;
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.outcome;
  }

  set(scope: string, msgId: string, outcome: Promise<Outcome>): void {
    const key = `${scope}\n${msgId}`;
    const entry: Entry = { outcome, bytes: 0 };
    this.forget(key);
    this.entries.set(key, entry);
    void outcome.then((reply) => {
      if (this.entries.get(key) !== entry) return;
      if (reply === DELIVER_AGAIN) {
        this.forget(key);
        return;
      }
      if (reply === null) return;
      entry.bytes = reply.length;
      this.replyBytes += reply.length;
      this.trim();
    });
    this.trim();
  }

  get size(): number {
    return this.entries.size;
  }

  private forget(key: string): void {
    const entry = this.entries.get(key);
    if (!entry) return;
    this.replyBytes -= entry.bytes;
    this.entries.delete(key);
  }

  private trim(): void {
    while (this.entries.size > this.capacity) this.forget(this.entries.keys().next().value as string);
    if (this.replyBytes <= this.replyBudgetBytes) return;
    for (const entry of this.entries.values()) {
      if (this.replyBytes <= this.replyBudgetBytes) break;
      if (entry.bytes === 0) continue;
      this.replyBytes -= entry.bytes;
      entry.bytes = 0;
      entry.outcome = Promise.resolve(null);
    }
  }
}

/** The record every AMQP bus of this process shares unless given its own. */
export const handledInThisProcess = new HandledMessages();
