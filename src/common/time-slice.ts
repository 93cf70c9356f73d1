import { setImmediate as nextTurn } from 'node:timers/promises';

/**
 * Slices a long loop into turns of the event loop. On SQLite every query is synchronous, so an
 * `await` between them never leaves the microtask queue: a loop over the instances of one
 * request (a multi-create's 500 claims, updates and casts) held the loop for 350–410 ms in one
 * turn, and every HTTP request that arrived meanwhile waited that long. `due()` after each item
 * gives the event loop a turn once `budgetMs` of work has run since the last one; a loop that
 * finishes inside its budget (one server's build: about 1 ms) never pays for a turn.
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

/**
 * Work per turn, in ms: what a request arriving meanwhile waits at most for this loop (plus
 * the one item that crossed the budget). 10 ms keeps a multi-create's cost within a few per
 * cent and a GET under the 100 ms the benchmark's probe allows, with the rest of a busy
 * turn's work.
 */
export const DEFAULT_SLICE_MS = 10;
