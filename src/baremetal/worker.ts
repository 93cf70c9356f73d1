import type { PowerInterface } from '@orrery/baremetal-ipmi';
import type { ImageClient } from '../clients/image-client.js';
import type { Config } from '../common/config.js';
import type { Logger } from '../common/logging.js';
import { now } from '../common/time.js';
import { recordNodeHistory, type HistorySeverity } from '../db/baremetal-history.js';
import { getNode, releaseNode, reserveNode, updateNode, type BmNodeRow } from '../db/baremetal-nodes.js';
import { countNodePorts } from '../db/baremetal-ports.js';
import type { Db } from '../db/connection.js';
import { BAREMETAL_API, BAREMETAL_TOPIC, type BaremetalHandlers, type ProvisionAction } from '../rpc/baremetal-api.js';
import type { Bus, Subscription } from '../rpc/bus.js';
import { dispatcher } from '../rpc/dispatch.js';
import { BootServer } from './boot-server.js';
import type { Sealer } from './driver-info.js';
import { changePower, clean, deploy, failureMessage, tearDown, undoDeploy, verify, type FlowContext } from './flows.js';
import { powerInterfaceOf } from './hardware.js';
import { ProvisionStates as S, type PowerTarget } from './states.js';
import { WorkerPeriodics } from './worker-periodic.js';

export interface WorkerDeps {
  db: Db;
  config: Config;
  log: Logger;
  /** This conductor's host: the name its node locks carry. */
  host: string;
  /** Opens driver_info's sealed secrets (the credential keys). */
  keys: Sealer;
  /** The image API with the service user's credentials (kernels and ramdisks of PXE deploys). */
  images: ImageClient | null;
}

/** The transient state the API moved a node into for each action (states.ts's START). */
const WORKING_STATE: Record<ProvisionAction, string> = {
  manage: S.VERIFYING, provide: S.CLEANING, clean: S.CLEANING, deploy: S.DEPLOYING, deleted: S.DELETING,
};

/** The node is another conductor's: the action is left to it. */
class NodeLocked extends Error {}

/**
 * The Bare Metal conductor worker, one in every conductor process: serves topic `baremetal`
 * (casts; the bus gives each to one conductor), carries each action out on the locked node in
 * the background, records every step in the node's history and ends in a stable state. Runs
 * the periodic power sync and the takeover of nodes whose conductor died (worker-periodic.ts),
 * and the HTTP boot server of PXE deploys.
 */
export class BaremetalWorker {
  private sub: Subscription | null = null;
  private readonly running = new Set<Promise<void>>();
  private readonly abort = new AbortController();
  private boot: BootServer | null = null;
  private periodics: WorkerPeriodics | null = null;
  /** The boot server's port, once started (null: none). */
  bootPort: number | null = null;

  constructor(private readonly deps: WorkerDeps) {}

  get host(): string {
    return this.deps.host;
  }

  async start(bus: Bus): Promise<void> {
    const { config, db, log } = this.deps;
    const port = config.opt('baremetal', 'http_port') ?? config.str('baremetal', 'http_port');
    if (port !== '') {
      this.boot = new BootServer(db, config.str('baremetal', 'http_root'), log);
      this.bootPort = await this.boot.start(config.str('DEFAULT', 'bind_host'), Number(port));
      log.info({ port: this.bootPort }, 'bare metal boot server listening');
    }
    this.sub = await bus.serve(BAREMETAL_TOPIC, dispatcher(BAREMETAL_API, this.handlers()));
    this.periodics = new WorkerPeriodics(this, this.deps);
    this.periodics.start();
  }

  async stop(): Promise<void> {
    this.periodics?.stop();
    await this.sub?.close();
    this.sub = null;
    this.abort.abort();
    await Promise.allSettled([...this.running]);
    await this.boot?.stop();
    this.boot = null;
  }

  /** Resolves when every action started so far has ended (tests, and stop). */
  async idle(): Promise<void> {
    while (this.running.size > 0) await Promise.allSettled([...this.running]);
  }

  handlers(): BaremetalHandlers {
    return {
      change_power_state: async ({ node, target }) => this.background(node, 'power', (n) => this.power(n, target)),
      do_provisioning_action: async ({ node, action }) => this.background(node, action, (n) => this.provision(n, action)),
      set_boot_device: async ({ node, device, persistent }) => this.background(node, 'set boot device', async (n) => {
        const c = this.flow(n);
        try {
          await c.step('set boot device', `${device}${persistent ? ' (persistent)' : ''}`, () => c.power.setBootDevice(device, persistent));
          await c.update({ boot_device: device, boot_device_persistent: persistent ? 1 : 0, last_error: null });
        } catch (err) {
          await c.update({ last_error: failureMessage('set boot device', err) });
        }
      }),
    };
  }

  /** Runs `fn` on the node under its lock, after the cast's handler returned (a deploy takes minutes). */
  private background(uuid: string, what: string, fn: (node: BmNodeRow) => Promise<void>): void {
    const job = this.withLock(uuid, fn).catch((err: unknown) => {
      if (err instanceof NodeLocked) this.deps.log.warn({ node: uuid, what }, err.message);
      else this.deps.log.error({ err, node: uuid, what }, 'bare metal action failed');
    }).finally(() => this.running.delete(job));
    this.running.add(job);
  }

  /**
   * Takes the node's lock (retrying a few seconds: a power sync holds it briefly), renews it
   * while `fn` runs, gives it back after. A lock another conductor keeps is NodeLocked.
   */
  async withLock(uuid: string, fn: (node: BmNodeRow) => Promise<void>, tries = 20): Promise<void> {
    const { db, host, config } = this.deps;
    const ttl = config.num('baremetal', 'reservation_ttl');
    for (let i = 0; !(await reserveNode(db, uuid, host, ttl, now())); i++) {
      if (i + 1 >= tries) throw new NodeLocked(`node ${uuid} is locked by another conductor`);
      await new Promise((r) => setTimeout(r, 250));
    }
    const renew = setInterval(() => void reserveNode(db, uuid, host, ttl, now()).catch(() => undefined), ttl * 1000 / 3);
    try {
      const node = await getNode(db, uuid);
      if (node) await fn(node);
    } finally {
      clearInterval(renew);
      await releaseNode(db, uuid, host);
    }
  }

  /** The steps of one locked node: recorded in its history, written to its row. */
  flow(node: BmNodeRow, power?: PowerInterface): FlowContext {
    const { db, config, host, images, log } = this.deps;
    const record = (event: string, severity: HistorySeverity, message: string): Promise<void> =>
      recordNodeHistory(db, { node_uuid: node.uuid, event, severity, message: message.slice(0, 1000), conductor: host }, now());
    return {
      node, config, images, boot: this.boot, ports: (uuid) => countNodePorts(db, uuid), httpRoot: config.str('baremetal', 'http_root'), signal: this.abort.signal,
      power: power ?? powerInterfaceOf(node, this.deps.keys, config),
      step: async (event, message, fn) => {
        try {
          const out = await fn();
          await record(event, 'INFO', message);
          log.info({ node: node.uuid, event }, message);
          return out;
        } catch (err) {
          await record(event, 'ERROR', failureMessage(`${event} (${message})`, err));
          throw err;
        }
      },
      update: async (changes) => {
        Object.assign(node, changes);
        await updateNode(db, node.uuid, changes, now());
      },
    };
  }

  /** Moves the node's provision state, recording the transition. */
  private async settle(c: FlowContext, state: string, target: string | null, lastError: string | null): Promise<void> {
    const from = c.node.provision_state;
    await c.update({ provision_state: state, target_provision_state: target, provision_updated_at: now().toISOString(), last_error: lastError });
    await recordNodeHistory(this.deps.db, {
      node_uuid: c.node.uuid, event: 'provision state', severity: lastError ? 'ERROR' : 'INFO',
      message: `${from} -> ${state}${lastError ? `: ${lastError}` : ''}`.slice(0, 1000), conductor: this.deps.host,
    }, now());
  }

  private async provision(node: BmNodeRow, action: ProvisionAction): Promise<void> {
    if (node.provision_state !== WORKING_STATE[action]) {
      this.deps.log.warn({ node: node.uuid, action, state: node.provision_state }, 'provision action for a node not in its working state: ignored');
      return;
    }
    let c: FlowContext;
    const target = node.target_provision_state;
    try {
      c = this.flow(node);
    } catch (err) {
      // No power interface (driver_info incomplete): the action fails before any step.
      const c0 = this.flow(node, { getPower: () => Promise.reject(err), setPower: () => Promise.reject(err), setBootDevice: () => Promise.reject(err) });
      return this.settle(c0, failedState(action), null, failureMessage(action, err));
    }
    try {
      switch (action) {
        case 'manage':
          await verify(c);
          return await this.settle(c, S.MANAGEABLE, null, null);
        case 'provide':
        case 'clean':
          await clean(c);
          return await this.settle(c, target === S.MANAGEABLE ? S.MANAGEABLE : S.AVAILABLE, null, null);
        case 'deploy':
          await deploy(c, () => this.settle(c, S.DEPLOY_WAIT, S.ACTIVE, null));
          return await this.settle(c, S.ACTIVE, null, null);
        case 'deleted':
          await tearDown(c);
          await this.settle(c, S.CLEANING, S.AVAILABLE, null);
          await clean(c);
          return await this.settle(c, S.AVAILABLE, null, null);
      }
    } catch (err) {
      const message = failureMessage(action === 'deleted' && c.node.provision_state === S.CLEANING ? 'clean' : action, err);
      if (action === 'deploy') await undoDeploy(c).catch((e: unknown) => this.deps.log.warn({ err: e, node: node.uuid }, 'undoing a failed deploy failed'));
      const failed = action === 'deleted' && c.node.provision_state === S.CLEANING ? S.CLEAN_FAILED : failedState(action);
      await this.settle(c, failed, null, message);
    }
  }

  private async power(node: BmNodeRow, target: PowerTarget): Promise<void> {
    let c: FlowContext | null = null;
    try {
      c = this.flow(node);
      const state = await changePower(c, target);
      await c.update({ power_state: state, target_power_state: null, last_error: null });
    } catch (err) {
      const changes = { target_power_state: null, last_error: failureMessage(`power ${target}`, err) };
      if (c) await c.update(changes);
      else await updateNode(this.deps.db, node.uuid, changes, now());
    }
  }
}

/** Where a failed action leaves the node (Ironic's fail transitions, states.ts's FAILURE_STATE). */
function failedState(action: ProvisionAction): string {
  switch (action) {
    case 'manage': return S.ENROLL;
    case 'provide': case 'clean': return S.CLEAN_FAILED;
    case 'deploy': return S.DEPLOY_FAILED;
    case 'deleted': return S.ERROR;
  }
}
