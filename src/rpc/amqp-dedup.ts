interface Entry {
  outcome: Promise<string | null>;
  bytes: number;
}

/**
 * Messages this process has handled (or is handling), by scope and msgId, so that a broker's
 * redelivery — a message whose ack was lost with its channel, or a call its sender published
 * again after losing the confirm — runs no side effect twice: the duplicate waits for the first
 * run and gets its outcome (the serialized reply of a call, to send again; null for a cast).
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

  get(scope: string, msgId: string): Promise<string | null> | undefined {
    const key = `${scope}\n${msgId}`;
    const hit = this.entries.get(key);
    if (!hit) return undefined;
    this.entries.delete(key);
    this.entries.set(key, hit);
    return hit.outcome;
  }

  set(scope: string, msgId: string, outcome: Promise<string | null>): void {
    const key = `${scope}\n${msgId}`;
    const entry: Entry = { outcome, bytes: 0 };
    this.forget(key);
    this.entries.set(key, entry);
    void outcome.then((reply) => {
      if (reply === null || this.entries.get(key) !== entry) return;
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
