import { isDriverError, PowerState, type GuardedVirtDriver, type MoveRef } from '@orrery/virt-api';
import type { Logger } from '../common/logging.js';
import type { Instance } from '../objects/compute.js';
import type { ComputeHandlers, MoveStep } from '../rpc/compute-api.js';
import type { ConductorRpcApi } from '../rpc/conductor-api.js';
import { SameCalls } from './coalesce.js';
import type { InFlightCalls } from './in-flight.js';
import { LiveMigrations } from './live-migrations.js';
import { imageRef, instanceRef, instanceSpec } from './specs.js';
import type { MoveNetworking } from './networking.js';

export interface MoveDeps {
  driver: GuardedVirtDriver;
  conductor: ConductorRpcApi;
  /** The service's long calls, aborted when it stops. */
  inFlight: InFlightCalls;
  log: Logger;
  /** The least time between two progress reports of a live migration (default 1000 ms). */
  progressIntervalMs?: number;
  /** The server's ports bound and plugged where it goes, unplugged where it left (networking.ts). */
  network?: MoveNetworking;
}

/** Seconds a guest gets to shut down cleanly before a shelve powers it off (as stop_instance gives it). */
const STOP_TIMEOUT_S = 60;

/** The compute side of the move steps, and the live migrations it sends. */
export interface MoveMethods {
  handlers: Pick<ComputeHandlers, MoveStep>;
  live: LiveMigrations;
}

/**
 * The compute side of the move steps (compute RPC 1.3): a thin executor over the guarded
 * driver's move calls. Each step's answer is its result; the conductor's flow writes the
 * instance, the migration record and the action events, so nothing here records any. Every
 * step is idempotent for its migration (the driver's calls are), and a step that is run again
 * while its first run still goes on here (a conductor took the flow over) joins that run. A
 * driver without the capability refuses through the guard (NotSupported), which fails the flow.
 */
export function moveMethods(deps: MoveDeps): MoveMethods {
  const d = deps.driver;
  const same = new SameCalls();
  const live = new LiveMigrations(deps);
  const long = <T>(call: (signal: AbortSignal) => Promise<T>): Promise<T> => deps.inFlight.run(call);
  const moveOf = (i: Instance, migrationId: string): MoveRef => ({ instance: instanceRef(i), migrationId });
  const power = async (i: Instance): Promise<number> => (await d.getInstance(instanceRef(i))).powerState;
  /** The step `method` of migration `id`, joined by its repeats while it runs. */
  const step = <T>(method: MoveStep, id: string, call: () => Promise<T>): Promise<T> => same.run(method, id, call);
  // Without a Network API no server has ports: nothing to bind or plug.
  const net = {
    here: (i: Instance, o: { bind: boolean }) => deps.network?.here(i, o) ?? Promise.resolve({ ports: [] }),
    bind: (i: Instance) => deps.network?.bind(i) ?? Promise.resolve(),
    away: (i: Instance, o: { unbind?: boolean } = {}) => deps.network?.away(i, o) ?? Promise.resolve(),
  };

  const handlers: Pick<ComputeHandlers, MoveStep> = {
    // ---- cold moves (resize, migrate)
    migrate_disk_and_power_off: ({ instance, migrationId, transfer }) => step('migrate_disk_and_power_off', migrationId, () =>
      long((signal) => d.migrateDiskAndPowerOff({ move: moveOf(instance, migrationId), transfer }, { signal }))),
    finish_migration: ({ instance, migrationId, transferImage, sourceNode, powerOn }) => step('finish_migration', migrationId, async () => {
      // Nova's migrate_instance_finish: the ports follow the guest to this host before it starts.
      const network = await net.here(instance, { bind: true });
      const req = {
        move: moveOf(instance, migrationId), instance: instanceSpec(instance, instance.imageMeta, network),
        transfer: transferImage ? imageRef(transferImage) : null, sourceNode, powerOn,
      };
      const info = await long((signal) => d.finishMigration(req, { signal }));
      return { powerState: info.powerState };
    }),
    confirm_migration: ({ instance, migrationId }) => step('confirm_migration', migrationId, async () => {
      await d.confirmMigration(moveOf(instance, migrationId));
      await net.away(instance);
    }),
    revert_migration: ({ instance, migrationId }) => step('revert_migration', migrationId, async () => {
      await d.revertMigration(moveOf(instance, migrationId));
      await net.away(instance);
    }),
    finish_revert_migration: ({ instance, migrationId, powerOn }) => step('finish_revert_migration', migrationId, async () => {
      await net.here(instance, { bind: true });
      return { powerState: (await d.finishRevertMigration(moveOf(instance, migrationId), powerOn)).powerState };
    }),

    // ---- live migration
    pre_live_migration: ({ instance, migrationId, blockMigration }) => step('pre_live_migration', migrationId, async () => {
      // Plugged here before the guest arrives; bound here once it runs here (post_live_migration_at_destination).
      const network = await net.here(instance, { bind: false });
      const req = { move: moveOf(instance, migrationId), instance: instanceSpec(instance, instance.imageMeta, network), blockMigration };
      const t = await long((signal) => d.preLiveMigration(req, { signal }));
      // Copied: the target crosses the bus as plain strings.
      return { node: t.node, data: { ...t.data } };
    }),
    live_migration: ({ instance, migrationId, target, blockMigration }, ctx) => step('live_migration', migrationId, () =>
      live.run(ctx, { move: moveOf(instance, migrationId), target, blockMigration })),
    live_migration_force_complete: ({ instance, migrationId }) => live.forceComplete(moveOf(instance, migrationId)),
    live_migration_abort: async ({ instance, migrationId }) => void live.abort(moveOf(instance, migrationId)),
    post_live_migration_at_destination: ({ instance, migrationId }) => step('post_live_migration_at_destination', migrationId, async () => {
      const powerState = (await d.postLiveMigrationAtDestination(moveOf(instance, migrationId))).powerState;
      await net.bind(instance);
      return { powerState };
    }),
    post_live_migration_at_source: ({ instance, migrationId }) => step('post_live_migration_at_source', migrationId, async () => {
      await d.postLiveMigrationAtSource(moveOf(instance, migrationId));
      await net.away(instance);
    }),
    rollback_live_migration_at_destination: ({ instance, migrationId }) => step('rollback_live_migration_at_destination', migrationId, async () => {
      await d.rollbackLiveMigrationAtDestination(moveOf(instance, migrationId));
      await net.away(instance);
    }),

    // ---- evacuate and unshelve (a spawn on the new host); shelve. Keyed by instance: no migration id.
    spawn_moved_instance: ({ instance, image, powerOn }) => step('spawn_moved_instance', instance.uuid, async () => {
      const ref = instanceRef(instance);
      const found: number | null = await d.getInstance(ref).then((i) => i.powerState, (err: unknown) => {
        if (isDriverError(err, 'InstanceNotFound')) return null;
        throw err;
      });
      let state: number;
      if (found !== null) state = found;
      else {
        try {
          // Evacuate, unshelve: the ports bound to this host (Nova's setup_networks_on_host) and plugged first.
          const network = await net.here(instance, { bind: true });
          state = (await long((signal) => d.spawn(instanceSpec(instance, image, network), { signal }))).powerState;
        } catch (err) {
          // A failed spawn leaves nothing behind; a guest that appeared meanwhile is not ours to remove.
          if (!isDriverError(err, 'InstanceExists')) await d.destroy(ref).catch(() => undefined);
          throw err;
        }
      }
      // Run again after a crash between the spawn and the power off: the same answer as the first run.
      if (!powerOn && state !== PowerState.SHUTDOWN) {
        await d.powerOff(ref, STOP_TIMEOUT_S);
        state = await power(instance);
      }
      return { powerState: state };
    }),
    shelve_instance: ({ instance, imageId, diskFormat }) => step('shelve_instance', instance.uuid, async () => {
      const ref = instanceRef(instance);
      if ((await power(instance)) !== PowerState.SHUTDOWN) await d.powerOff(ref, STOP_TIMEOUT_S);
      if (imageId !== null) await long((signal) => d.snapshot({ instance: ref, imageId, diskFormat }, { signal }));
    }),
    shelve_offload_instance: ({ instance }) => step('shelve_offload_instance', instance.uuid, async () => {
      await long((signal) => d.destroy(instanceRef(instance), { signal })).catch((err: unknown) => {
        if (!isDriverError(err, 'InstanceNotFound')) throw err;
      });
      await net.away(instance, { unbind: true });
    }),
    unshelve_on_host: ({ instance }) => step('unshelve_on_host', instance.uuid, async () => {
      await d.powerOn(instanceRef(instance));
      return { powerState: await power(instance) };
    }),
  };
  return { handlers, live };
}
