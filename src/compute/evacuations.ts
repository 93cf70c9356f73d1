import { isDriverError, type GuardedVirtDriver } from '@orrery/virt-api';
import { Conflict, errorMessage } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import type { Instance } from '../objects/compute.js';
import type { ConductorRpcApi } from '../rpc/conductor-api.js';
import { systemContext } from '../rpc/dispatch.js';
import { ownedByMove } from './move-ownership.js';
import type { HostNetworking } from './networking.js';

export interface EvacuationDeps {
  host: string;
  log: Logger;
  driver: GuardedVirtDriver;
  conductor: ConductorRpcApi;
  /** How a conductor call is tried (the service's retry of calls that must land); once by default. */
  landed?<T>(call: () => Promise<T>): Promise<T>;
  /** The servers' VIFs on this host (networking.ts), unplugged with an evacuated guest. */
  network?: HostNetworking;
}

/**
 * The instances evacuated from this host, as the conductor knows them (Nova's
 * _destroy_evacuated_instances). A host that comes back after its instances were rebuilt
 * elsewhere still has their old guests: once an evacuation is done, its guest here is destroyed
 * without ever being started (it would run twice, on one disk image or network identity), and
 * the conductor told so it releases the claim here. An evacuation still under way is left to
 * its flow: recovery and power sync must not touch its instance (ownedByMove).
 */
export class Evacuations {
  /** Instances whose evacuation from here is under way, as of the last sweep. */
  #underWay = new Set<string>();

  constructor(private readonly d: EvacuationDeps) {}

  /** True when `uuid`'s evacuation from this host was under way at the last sweep. */
  underWay(uuid: string): boolean {
    return this.#underWay.has(uuid);
  }

  /** True when a move owns `inst` (move-ownership.ts), an evacuation from here under way included. */
  ownedByMove(inst: Instance): boolean {
    return ownedByMove(inst, (uuid) => this.#underWay.has(uuid));
  }

  /**
   * Asks the conductor, removes the guests of finished evacuations, and remembers the ones
   * under way. A failed question keeps what the last sweep knew; a conductor pinned below 1.6
   * has no evacuations to tell of.
   */
  async sweep(): Promise<void> {
    const ctx = systemContext();
    let list;
    try {
      list = await (this.d.landed ?? ((c) => c()))(() => this.d.conductor.evacuationsFromHost(ctx, this.d.host));
    } catch (err) {
      if (err instanceof Conflict && /needs RPC 1\.6/.test(err.message)) this.#underWay = new Set();
      else this.d.log.warn({ err: errorMessage(err) }, 'could not ask the conductor about evacuations from this host');
      return;
    }
    this.#underWay = new Set(list.filter((e) => !e.done).map((e) => e.instanceUuid));
    const done = list.filter((e) => e.done);
    if (done.length === 0) return;
    let listed: Map<string, string>;
    try {
      listed = new Map((await this.d.driver.listInstances()).map((i) => [i.uuid, i.node]));
    } catch (err) {
      // Never holds up recovery or power sync: the next sweep tries again.
      this.d.log.warn({ err: errorMessage(err) }, 'could not list guests to clean up after evacuations');
      return;
    }
    for (const e of done) {
      try {
        const node = listed.get(e.instanceUuid);
        // An instance that lives here again (moved back since) keeps its guest.
        const current = node !== undefined ? await this.d.conductor.instanceGet(ctx, e.instanceUuid) : null;
        const back = node !== undefined && current?.host === this.d.host;
        if (node !== undefined && !back) {
          this.d.log.info({ instance: e.instanceUuid, node, migration: e.migrationUuid }, 'destroying the guest of an instance evacuated from this host');
          await this.d.driver.destroy({ uuid: e.instanceUuid, node }).catch((err: unknown) => {
            if (!isDriverError(err, 'InstanceNotFound')) throw err;
          });
          // Its VIFs' leftovers here too (its ports are bound to the new host by now).
          if (current) await this.d.network?.away({ ...current, node });
        }
        await this.d.conductor.evacuationCleaned(ctx, e.migrationUuid);
      } catch (err) {
        // Left for the next sweep: the claim here stays until the guest is gone.
        this.d.log.warn({ instance: e.instanceUuid, migration: e.migrationUuid, err: errorMessage(err) }, 'could not clean up after an evacuation');
      }
    }
  }
}
