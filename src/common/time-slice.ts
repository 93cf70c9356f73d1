import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Work per turn, in ms: about what a request arriving meanwhile waits for this loop (plus the
 * item that crossed the budget). With 10 ms a multi-create of 500 was ACTIVE as soon as before
 * (0.52–0.75 s against 0.57–0.60 s) and a GET during it waited 18–51 ms instead of 252–283 ms.
 */
export const DEFAULT_SLICE_MS = 10;

/**
 * Slices a long loop into turns of the event loop. On SQLite every query is synchronous, so an
 * `await` between them never leaves the microtask queue: a loop over the instances of one
 * request (a multi-create's 500 claims, updates and casts) ran as one turn of 380–410 ms, and a
 * GET arriving meanwhile waited 250–720 ms (docs/performance.md, "Reads during a storm").
 * `due()` after each item gives the event loop a turn once `budgetMs` has passed since the last
 * one; a loop that finishes inside its budget (one server's build: about 1 ms) never yields.
 */
export class TimeSlice {
  private since = performance.now();

  constructor(private readonly budgetMs = DEFAULT_SLICE_MS) {}

  /** Yields to the event loop (I/O, timers, other casts) when this slice's budget is spent. */
  async due(): Promise<void> {
    if (performance.now() - this.since < this.budgetMs) return;
    await nextTurn();
    this.since = performance.now();
  }
}
