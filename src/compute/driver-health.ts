import type { DriverStatus, GuardedVirtDriver } from '@orrery/virt-api';
import { errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { driverBackendUp } from '../common/metrics.js';

/**
 * The back-end's health as the compute service reports it (contract 1.1 status()): probed
 * once per service report, bounded by a deadline so a hung back-end reads as unreachable
 * instead of holding the heartbeat. A driver that agreed 1.0 has no status() and is never
 * asked: its reports carry no status.
 */
export class DriverHealth {
  #last: DriverStatus | null = null;

  constructor(
    private readonly driver: GuardedVirtDriver,
    private readonly log: Logger,
    private readonly deadlineMs: number,
    /** The compute host, the metric's label. */
    private readonly host: string,
  ) {}

  /** The last status probed, if any. */
  get last(): DriverStatus | null {
    return this.#last;
  }

  /** Probes the back-end; undefined when the agreed contract has no status(). */
  async probe(): Promise<DriverStatus | undefined> {
    if (!this.driver.supports('status')) return undefined;
    let timer: NodeJS.Timeout | undefined;
    let status: DriverStatus;
    try {
      status = await Promise.race([
        this.driver.status(),
        new Promise<never>((_, reject) => {
          timer = setTimeout(() => reject(new Error(`no answer within ${this.deadlineMs} ms`)), this.deadlineMs);
        }),
      ]);
    } catch (err) {
      status = { reachable: false, latencyMs: null, message: `status probe failed: ${errorMessage(err)}` };
    } finally {
      clearTimeout(timer);
    }
    if (status.reachable !== this.#last?.reachable) {
      if (status.reachable) this.log.info({ latencyMs: status.latencyMs, message: status.message }, 'driver back-end reachable');
      else this.log.warn({ message: status.message }, 'driver back-end unreachable');
    }
    this.#last = status;
    driverBackendUp.set({ host: this.host, driver: this.driver.version().name }, status.reachable ? 1 : 0);
    return status;
  }
}
