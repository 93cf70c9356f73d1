import { Aborted, type GuardedVirtDriver, type LiveMigrationRequest, type MoveProgress, type MoveRef } from '@orrery/virt-api';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { RpcContext } from '../rpc/bus.js';
import type { ConductorRpcApi } from '../rpc/conductor-api.js';
import type { InFlightCalls } from './in-flight.js';

/** How long the step's answer waits for its last progress report to be sent. */
const FLUSH_WAIT_MS = 2000;

export interface LiveMigrationDeps {
  driver: GuardedVirtDriver;
  conductor: ConductorRpcApi;
  inFlight: InFlightCalls;
  log: Logger;
  /** The least time between two progress reports to the conductor (default 1000 ms). */
  progressIntervalMs?: number;
}

/**
 * The live migrations this host is sending: each runs under the service's InFlightCalls (a
 * stopping service aborts it) with an AbortController of its own, so that the API's
 * live_migration_abort reaches the driver call that copies the guest. In memory only: a
 * migration outlives no restart of the service that sends it (the driver's own record tells
 * the step run again what happened).
 */
export class LiveMigrations {
  readonly #aborts = new Map<string, AbortController>();

  constructor(private readonly d: LiveMigrationDeps) {}

  /** The migrations under way here. */
  get size(): number {
    return this.#aborts.size;
  }

  /** Runs the driver's liveMigration, its progress relayed to the conductor (throttled, the last always sent). */
  async run(ctx: RpcContext, req: LiveMigrationRequest): Promise<void> {
    const id = req.move.migrationId;
    const ac = new AbortController();
    this.#aborts.set(id, ac);
    const progress = throttled(this.d.progressIntervalMs ?? 1000, async (p) => {
      try {
        await this.d.conductor.migrationProgress(ctx, id, p);
      } catch (err) {
        this.d.log.warn({ migration: id, err: errorMessage(err) }, 'could not report live migration progress');
      }
    });
    try {
      await this.d.inFlight.run((stop) => {
        // The service stopping aborts it as the API's abort does.
        const onStop = (): void => ac.abort(stop.reason);
        if (stop.aborted) onStop();
        else stop.addEventListener('abort', onStop, { once: true });
        return this.d.driver.liveMigration(req, { signal: ac.signal, onProgress: progress.report })
          .finally(() => stop.removeEventListener('abort', onStop));
      });
    } finally {
      this.#aborts.delete(id);
      // The last report goes before the step answers, but a bus that does not take it never holds the answer.
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([progress.flush(), new Promise((r) => (timer = setTimeout(r, FLUSH_WAIT_MS)))]);
      clearTimeout(timer);
    }
  }

  /** The API's abort: the running call fails with Aborted (and the flow rolls back). Answers whether one ran. */
  abort(move: MoveRef): boolean {
    const ac = this.#aborts.get(move.migrationId);
    if (!ac) {
      this.d.log.info({ migration: move.migrationId, instance: move.instance.uuid }, 'abort of a live migration not under way here: nothing to do');
      return false;
    }
    ac.abort(new Aborted(`live migration ${move.migrationId} of ${move.instance.uuid} was aborted`));
    return true;
  }

  /** The API's force complete (a cast: a refusal is logged, nobody waits for it). */
  async forceComplete(move: MoveRef): Promise<void> {
    try {
      await this.d.driver.liveMigrationForceComplete(move);
    } catch (err) {
      this.d.log.warn({ migration: move.migrationId, instance: move.instance.uuid, err: errorMessage(err) }, 'could not force a live migration to complete');
    }
  }
}

/**
 * At most one report per `intervalMs` reaches `send`, in order; a report that comes too soon
 * waits for its turn and is replaced by a newer one meanwhile. `flush` sends what still waits
 * (the last report always arrives) and answers once everything sent has been handled.
 */
export function throttled(intervalMs: number, send: (p: MoveProgress) => Promise<void>): { report: (p: MoveProgress) => void; flush: () => Promise<void> } {
  let lastSent = -Infinity;
  let waiting: MoveProgress | null = null;
  let timer: NodeJS.Timeout | undefined;
  let chain: Promise<void> = Promise.resolve();
  const sendNow = (): void => {
    timer = undefined;
    const p = waiting;
    if (!p) return;
    waiting = null;
    lastSent = Date.now();
    chain = chain.then(() => send(p));
  };
  return {
    report: (p) => {
      waiting = p;
      if (timer) return;
      const wait = lastSent + intervalMs - Date.now();
      if (wait <= 0) sendNow();
      else {
        timer = setTimeout(sendNow, wait);
        timer.unref();
      }
    },
    flush: () => {
      clearTimeout(timer);
      sendNow();
      return chain;
    },
  };
}
