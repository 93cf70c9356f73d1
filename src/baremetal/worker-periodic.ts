import { BmcError } from '@orrery/baremetal-ipmi';
import { errorMessage } from '../common/errors.js';
import { now } from '../common/time.js';
import { recordNodeHistory } from '../db/baremetal-history.js';
import { isReserved, listNodes, updateNode, type BmNodeRow } from '../db/baremetal-nodes.js';
import { failureMessage } from './flows.js';
import { FAILURE_STATE, STABLE_STATES } from './states.js';
import type { BaremetalWorker, WorkerDeps } from './worker.js';

const PAGE = 200;

/**
 * The worker's periodic tasks (Ironic's conductor periodics):
 *  - power sync every [baremetal] sync_power_state_interval: each node at rest, not in
 *    maintenance and unlocked, has its power state read from its BMC; a change made behind the
 *    service's back (someone pressed the button) is recorded as the node's power_state and in its
 *    history; a BMC that does not answer is the node's last_error (recorded once, not every sync);
 *  - takeover every reservation_ttl / 2: a node in a working state (deploying, cleaning, …) that
 *    nobody holds — its conductor was killed and its lock expired — is taken by this conductor
 *    and failed as Ironic does ("deploy failed", "clean failed", …) with last_error saying why,
 *    so it can be acted on again; a power change left unfinished is cleared the same way.
 */
export class WorkerPeriodics {
  private timers: NodeJS.Timeout[] = [];
  private busy = new Set<string>();

  constructor(private readonly worker: BaremetalWorker, private readonly deps: WorkerDeps) {}

  start(): void {
    const sync = this.deps.config.num('baremetal', 'sync_power_state_interval');
    if (sync > 0) this.every('power sync', sync, () => this.syncPower());
    this.every('takeover', this.deps.config.num('baremetal', 'reservation_ttl') / 2, () => this.takeOver());
  }

  stop(): void {
    for (const t of this.timers) clearInterval(t);
    this.timers = [];
  }

  /** Runs `fn` every `seconds`, never two at once. */
  private every(name: string, seconds: number, fn: () => Promise<void>): void {
    this.timers.push(setInterval(() => {
      if (this.busy.has(name)) return;
      this.busy.add(name);
      fn().catch((err: unknown) => this.deps.log.warn({ err }, `bare metal ${name} failed`)).finally(() => this.busy.delete(name));
    }, seconds * 1000));
  }

  private async *nodes(): AsyncGenerator<BmNodeRow> {
    let after: string | undefined;
    for (;;) {
      const page = await listNodes(this.deps.db, after ? { after } : {}, PAGE);
      yield* page;
      if (page.length < PAGE) return;
      after = page[page.length - 1]!.uuid;
    }
  }

  async syncPower(): Promise<void> {
    for await (const n of this.nodes()) {
      if (n.maintenance || !STABLE_STATES.has(n.provision_state) || n.target_power_state !== null || isReserved(n, now())) continue;
      await this.worker.withLock(n.uuid, async (node) => {
        if (!STABLE_STATES.has(node.provision_state) || node.target_power_state !== null) return;
        const c = this.worker.flow(node);
        try {
          const state = await c.power.getPower();
          if (state !== node.power_state) {
            await c.update({ power_state: state });
            await this.history(node, 'WARNING', `power state changed outside the service: recorded ${node.power_state ?? 'unknown'}, the BMC says ${state}`);
          }
          if (node.last_error?.startsWith('power sync failed')) await c.update({ last_error: null });
        } catch (err) {
          if (!(err instanceof BmcError)) throw err;
          const message = failureMessage('power sync', err);
          if (node.last_error === message) return;
          await c.update({ last_error: message });
          await this.history(node, 'WARNING', message);
        }
      }, 1).catch((err: unknown) => this.deps.log.debug({ node: n.uuid, err: errorMessage(err) }, 'power sync skipped a node'));
    }
  }

  async takeOver(): Promise<void> {
    const ttlMs = this.deps.config.num('baremetal', 'reservation_ttl') * 1000;
    for await (const n of this.nodes()) {
      const working = !STABLE_STATES.has(n.provision_state);
      if ((!working && n.target_power_state === null) || isReserved(n, now())) continue;
      // A cast the API just sent may not have reached a conductor yet: only a node unchanged for a whole lock lifetime is abandoned.
      const since = Date.parse(n.provision_updated_at ?? n.updated_at ?? n.created_at);
      if (Date.parse(n.updated_at ?? n.created_at) > Date.now() - ttlMs || since > Date.now() - ttlMs) continue;
      const previous = n.reservation;
      await this.worker.withLock(n.uuid, async (node) => {
        // Another conductor may have moved it on between the listing and the lock.
        if (node.provision_state !== n.provision_state || node.target_power_state !== n.target_power_state) return;
        const why = `the conductor working on it${previous ? ` (${previous})` : ''} stopped; taken over by ${this.deps.host}`;
        if (!STABLE_STATES.has(node.provision_state)) {
          const failed = FAILURE_STATE[node.provision_state] ?? 'error';
          const message = `${node.provision_state} failed: ${why}`;
          await updateNode(this.deps.db, node.uuid, {
            provision_state: failed, target_provision_state: null, target_power_state: null, provision_updated_at: now().toISOString(), last_error: message,
          }, now());
          await this.history(node, 'ERROR', `${node.provision_state} -> ${failed}: ${message}`, 'provision state');
        } else if (node.target_power_state !== null) {
          const message = `power ${node.target_power_state} failed: ${why}`;
          await updateNode(this.deps.db, node.uuid, { target_power_state: null, last_error: message }, now());
          await this.history(node, 'ERROR', message, 'power');
        }
      }, 1).catch(() => undefined);
    }
  }

  private history(node: BmNodeRow, severity: 'WARNING' | 'ERROR', message: string, event = 'power sync'): Promise<void> {
    return recordNodeHistory(this.deps.db, { node_uuid: node.uuid, event, severity, message: message.slice(0, 1000), conductor: this.deps.host }, now());
  }
}
