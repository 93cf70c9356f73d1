import { Type } from '@sinclair/typebox';
import { unwrap, wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { ImageMeta, Instance, RequestSpec } from '../objects/compute.js';
import type { VifInfo } from '../objects/network.js';
import type { Bus, RpcContext } from './bus.js';
import { call, cast, defineApi, EnvelopeWire, Str, StrOrNull, voidCall, type ApiSignatures, type Handlers } from './definition.js';
import { RpcClient } from './dispatch.js';

export const COMPUTE_RPC_VERSION = '1.5';

/**
 * The object versions each compute RPC version carries (Nova's object version manifest): a
 * sender pinned to an older compute backports what it sends to these.
 */
const OBJECTS_AT: Record<string, Record<string, string>> = {
  '1.0': { Instance: '1.0', ImageMeta: '1.0', RequestSpec: '1.0' },
  '1.1': { Instance: '1.1', ImageMeta: '1.0', RequestSpec: '1.0' },
  '1.2': { Instance: '1.1', ImageMeta: '1.0', RequestSpec: '1.0' },
  '1.3': { Instance: '1.1', ImageMeta: '1.0', RequestSpec: '1.0' },
  '1.4': { Instance: '1.2', ImageMeta: '1.0', RequestSpec: '1.1' },
  '1.5': { Instance: '1.2', ImageMeta: '1.0', RequestSpec: '1.1' },
};

/** Wraps an object at the version receivers pinned to `pin` understand. */
function wrapAt<T>(pin: string, name: string, data: T) {
  return wrap(name, data, OBJECTS_AT[pin]?.[name]);
}

/** Every node has its own topic, so a node can move between compute services. */
export const computeTopic = (node: string): string => `compute.${node}`;

export type InstanceAction = import('../objects/actions.js').CarriedBy<'instanceAction'>;

/** The methods that carry an instance and nothing else (cast; the compute service does the rest). */
function instanceCast(since?: string) {
  return cast({
    since,
    args: Type.Object({ instance: EnvelopeWire }),
    encode: (a: { instance: Instance }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance) }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance') }),
  });
}

/** A move step's call: the instance (on the node the call goes to) and the migration it belongs to. */
const MoveArgs = { instance: EnvelopeWire, migration_id: Str };
interface MoveStepArgs { instance: Instance; migrationId: string }
const moveWire = (a: MoveStepArgs, pin: string) => ({ instance: wrapAt(pin, 'Instance', a.instance), migration_id: a.migrationId });
const moveArgs = (w: { instance: unknown; migration_id: string }): MoveStepArgs => ({ instance: unwrap<Instance>(w.instance, 'Instance'), migrationId: w.migration_id });

/** A move step answering nothing. */
function moveCall() {
  return voidCall({ since: '1.3', args: Type.Object(MoveArgs), encode: moveWire, decode: moveArgs });
}

/** The power state a guest is in after the step (objects/states.ts PowerState). */
const PowerStateAnswer = {
  result: Type.Object({ power_state: Type.Number() }),
  encodeResult: (r: { powerState: number }) => ({ power_state: r.powerState }),
  decodeResult: (w: { power_state: number }) => ({ powerState: w.power_state }),
};

/** What a live migration's destination answered (virt contract LiveMigrationTarget). */
export interface LiveTarget { node: string; data: Record<string, string> }
const LiveTargetWire = Type.Object({ node: Str, data: Type.Record(Str, Str) });

/**
 * Compute RPC API, addressed to the node an instance lives on.
 * 1.0: build_and_run_instance, terminate_instance, stop/start/pause/unpause/suspend/resume,
 *      reboot_instance, rebuild_instance, snapshot_instance, get_console_output.
 * 1.1: get_instance_diagnostics; Instance 1.1.
 * 1.2: soft_delete_instance, restore_instance (deferred delete).
 * 1.3: the steps of moves (issue #12), each a call the conductor's task flow makes and waits
 *      for, idempotent for its migration (a conductor that took a flow over runs the step
 *      again): the cold move's, the live migration's, spawn_moved_instance (evacuate, unshelve),
 *      shelve_instance, shelve_offload_instance; and the casts force_complete and abort of a
 *      running live migration (from the API). The compute records no state of its own: the
 *      conductor writes the instance and the migration record with each step's answer.
 * 1.4: networking (issue #13): Instance 1.2 (its info cache), RequestSpec 1.1 (the requested
 *      networks); attach_interface / detach_interface (os-interface), calls from the API.
 * 1.5: get_console (remote consoles, virt contract 1.4), a call from the API and its console proxy.
 */
export const COMPUTE_API = defineApi('compute', COMPUTE_RPC_VERSION, {
  /** The request spec travels along so that a failed build can be rescheduled (Nova's filter_properties). */
  build_and_run_instance: cast({
    args: Type.Object({ instance: EnvelopeWire, node: Str, request_spec: EnvelopeWire }),
    encode: (a: { instance: Instance; node: string; spec: RequestSpec }, pin) => ({
      instance: wrapAt(pin, 'Instance', a.instance), node: a.node, request_spec: wrapAt(pin, 'RequestSpec', a.spec),
    }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), node: w.node, spec: unwrap<RequestSpec>(w.request_spec, 'RequestSpec') }),
  }),
  terminate_instance: instanceCast(),
  stop_instance: instanceCast(),
  start_instance: instanceCast(),
  pause_instance: instanceCast(),
  unpause_instance: instanceCast(),
  suspend_instance: instanceCast(),
  resume_instance: instanceCast(),
  reboot_instance: cast({
    args: Type.Object({ instance: EnvelopeWire, reboot_type: Type.Union([Type.Literal('SOFT'), Type.Literal('HARD')]) }),
    encode: (a: { instance: Instance; rebootType: 'SOFT' | 'HARD' }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance), reboot_type: a.rebootType }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), rebootType: w.reboot_type }),
  }),
  rebuild_instance: cast({
    args: Type.Object({ instance: EnvelopeWire, image: EnvelopeWire }),
    encode: (a: { instance: Instance; image: ImageMeta }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance), image: wrapAt(pin, 'ImageMeta', a.image) }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), image: unwrap<ImageMeta>(w.image, 'ImageMeta') }),
  }),
  snapshot_instance: cast({
    args: Type.Object({ instance: EnvelopeWire, image_id: Str, disk_format: Str }),
    encode: (a: { instance: Instance; imageId: string; diskFormat: string }, pin) => ({
      instance: wrapAt(pin, 'Instance', a.instance), image_id: a.imageId, disk_format: a.diskFormat,
    }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), imageId: w.image_id, diskFormat: w.disk_format }),
  }),
  get_console_output: call({
    args: Type.Object({ instance: EnvelopeWire, length: Type.Optional(Type.Union([Type.Number(), Type.Null()])) }),
    encode: (a: { instance: Instance; length: number | null }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance), length: a.length }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), length: w.length ?? null }),
    // A compute answering nothing (null) answers no output.
    result: StrOrNull,
    encodeResult: (output: string) => output,
    decodeResult: (output) => output ?? '',
  }),
  get_instance_diagnostics: call({
    since: '1.1',
    args: Type.Object({ instance: EnvelopeWire }),
    encode: (a: { instance: Instance }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance) }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance') }),
    // Null when the compute has none to give (the API then shows every field null).
    result: Type.Union([Type.Record(Str, Type.Unknown()), Type.Null()]),
    encodeResult: (d: Record<string, unknown> | null) => d,
    decodeResult: (d) => d,
  }),
  /** Power the guest off and mark it SOFT_DELETED (deferred delete). */
  soft_delete_instance: instanceCast('1.2'),
  /** Power it back on, ACTIVE. */
  restore_instance: instanceCast('1.2'),

  // ---- 1.3: move steps (calls from the conductor's flows; virt contract 1.2 MoveCalls)
  /** Cold move 1, source: power off, keep the guest, upload the root disk into `transfer` (null: same node, set aside). */
  migrate_disk_and_power_off: voidCall({
    since: '1.3',
    args: Type.Object({ ...MoveArgs, transfer: Type.Union([Type.Object({ image_id: Str, disk_format: Str }), Type.Null()]) }),
    encode: (a: MoveStepArgs & { transfer: { imageId: string; diskFormat: string } | null }, pin) => ({
      ...moveWire(a, pin), transfer: a.transfer ? { image_id: a.transfer.imageId, disk_format: a.transfer.diskFormat } : null,
    }),
    decode: (w) => ({ ...moveArgs(w), transfer: w.transfer ? { imageId: w.transfer.image_id, diskFormat: w.transfer.disk_format } : null }),
  }),
  /** Cold move 2, destination: `instance` as it will be (node = destination, flavor = new); the guest from `transfer_image` (null: the copy set aside). */
  finish_migration: call({
    since: '1.3',
    args: Type.Object({ ...MoveArgs, transfer_image: Type.Union([EnvelopeWire, Type.Null()]), source_node: Str, power_on: Type.Boolean() }),
    encode: (a: MoveStepArgs & { transferImage: ImageMeta | null; sourceNode: string; powerOn: boolean }, pin) => ({
      ...moveWire(a, pin), transfer_image: a.transferImage ? wrapAt(pin, 'ImageMeta', a.transferImage) : null,
      source_node: a.sourceNode, power_on: a.powerOn,
    }),
    decode: (w) => ({
      ...moveArgs(w), transferImage: w.transfer_image ? unwrap<ImageMeta>(w.transfer_image, 'ImageMeta') : null,
      sourceNode: w.source_node, powerOn: w.power_on,
    }),
    ...PowerStateAnswer,
  }),
  /** Confirm, source: remove what the source kept. */
  confirm_migration: moveCall(),
  /** Revert 1, destination: remove the moved copy. */
  revert_migration: moveCall(),
  /** Revert 2, source: the kept guest back (`instance` with its old flavor), running when `power_on`. */
  finish_revert_migration: call({
    since: '1.3',
    args: Type.Object({ ...MoveArgs, power_on: Type.Boolean() }),
    encode: (a: MoveStepArgs & { powerOn: boolean }, pin) => ({ ...moveWire(a, pin), power_on: a.powerOn }),
    decode: (w) => ({ ...moveArgs(w), powerOn: w.power_on }),
    ...PowerStateAnswer,
  }),
  /** Live 1, destination (`instance` with node = destination): make ready; answers where the source sends the guest. */
  pre_live_migration: call({
    since: '1.3',
    args: Type.Object({ ...MoveArgs, block_migration: Type.Boolean() }),
    encode: (a: MoveStepArgs & { blockMigration: boolean }, pin) => ({ ...moveWire(a, pin), block_migration: a.blockMigration }),
    decode: (w) => ({ ...moveArgs(w), blockMigration: w.block_migration }),
    result: LiveTargetWire,
    encodeResult: (t: LiveTarget) => ({ node: t.node, data: t.data }),
    decodeResult: (t) => ({ node: t.node, data: t.data }),
  }),
  /**
   * Live 2, source: move the running guest to `target`; answers once it runs there. Progress
   * goes to the conductor (migration_progress) while it runs; a second call for the same
   * migration while the first runs waits for the first.
   */
  live_migration: voidCall({
    since: '1.3',
    args: Type.Object({ ...MoveArgs, target: LiveTargetWire, block_migration: Type.Boolean() }),
    encode: (a: MoveStepArgs & { target: LiveTarget; blockMigration: boolean }, pin) => ({
      ...moveWire(a, pin), target: { node: a.target.node, data: a.target.data }, block_migration: a.blockMigration,
    }),
    decode: (w) => ({ ...moveArgs(w), target: { node: w.target.node, data: w.target.data }, blockMigration: w.block_migration }),
  }),
  /** Live, from the API to the source: make the running migration finish (Nova's force_complete). */
  live_migration_force_complete: cast({ since: '1.3', args: Type.Object(MoveArgs), encode: moveWire, decode: moveArgs }),
  /** Live, from the API to the source: abort the running migration; live_migration then fails, and the flow rolls back. */
  live_migration_abort: cast({ since: '1.3', args: Type.Object(MoveArgs), encode: moveWire, decode: moveArgs }),
  /** Live 3, destination: the guest arrived; answers its power state there. */
  post_live_migration_at_destination: call({
    since: '1.3', args: Type.Object(MoveArgs), encode: moveWire, decode: moveArgs, ...PowerStateAnswer,
  }),
  /** Live 4, source: remove what is left of the guest. */
  post_live_migration_at_source: moveCall(),
  /** Live failed or aborted, destination: remove what pre_live_migration made. */
  rollback_live_migration_at_destination: moveCall(),
  /**
   * Evacuate and unshelve, destination (`instance` with node = destination): spawn the guest
   * from `image` (evacuate: the server's image; unshelve: the shelved snapshot). A guest of this
   * instance already there (the step run again) is answered as it is.
   */
  spawn_moved_instance: call({
    since: '1.3',
    args: Type.Object({ instance: EnvelopeWire, image: EnvelopeWire, power_on: Type.Boolean() }),
    encode: (a: { instance: Instance; image: ImageMeta; powerOn: boolean }, pin) => ({
      instance: wrapAt(pin, 'Instance', a.instance), image: wrapAt(pin, 'ImageMeta', a.image), power_on: a.powerOn,
    }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), image: unwrap<ImageMeta>(w.image, 'ImageMeta'), powerOn: w.power_on }),
    ...PowerStateAnswer,
  }),
  /** Shelve, its host: power off, then snapshot into `image_id` (skipped when `image_id` is null: already uploaded). */
  shelve_instance: voidCall({
    since: '1.3',
    args: Type.Object({ instance: EnvelopeWire, image_id: StrOrNull, disk_format: Str }),
    encode: (a: { instance: Instance; imageId: string | null; diskFormat: string }, pin) => ({
      instance: wrapAt(pin, 'Instance', a.instance), image_id: a.imageId, disk_format: a.diskFormat,
    }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), imageId: w.image_id, diskFormat: w.disk_format }),
  }),
  /** Shelve offload, its host: destroy the guest (gone already: success). */
  shelve_offload_instance: voidCall({
    since: '1.3', args: Type.Object({ instance: EnvelopeWire }),
    encode: (a: { instance: Instance }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance) }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance') }),
  }),
  /** Unshelve of a shelved (not offloaded) instance, its host: power the guest back on. */
  unshelve_on_host: call({
    since: '1.3', args: Type.Object({ instance: EnvelopeWire }),
    encode: (a: { instance: Instance }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance) }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance') }),
    ...PowerStateAnswer,
  }),

  // ---- 1.4: interfaces (virt contract 1.3 interfaceAttach)
  /**
   * Binds the port (made or given by the API) to this host and plugs it into the running guest;
   * answers the server's info cache with it. A driver without interfaceAttach refuses (409).
   */
  attach_interface: call({
    since: '1.4',
    args: Type.Object({ instance: EnvelopeWire, port_id: Str, created_by_compute: Type.Boolean() }),
    encode: (a: { instance: Instance; portId: string; createdByCompute: boolean }, pin) => ({
      instance: wrapAt(pin, 'Instance', a.instance), port_id: a.portId, created_by_compute: a.createdByCompute,
    }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), portId: w.port_id, createdByCompute: w.created_by_compute }),
    result: Type.Array(Type.Unknown()),
    encodeResult: (vifs: VifInfo[]) => vifs,
    decodeResult: (vifs) => vifs as VifInfo[],
  }),
  /** Unplugs the port from the guest, then deletes it (made by Orrery) or unbinds it (the user's); answers the info cache without it. */
  detach_interface: call({
    since: '1.4',
    args: Type.Object({ instance: EnvelopeWire, port_id: Str }),
    encode: (a: { instance: Instance; portId: string }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance), port_id: a.portId }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), portId: w.port_id }),
    result: Type.Array(Type.Unknown()),
    encodeResult: (vifs: VifInfo[]) => vifs,
    decodeResult: (vifs) => vifs as VifInfo[],
  }),

  // ---- 1.5: remote consoles (virt contract 1.4 remoteConsole)
  /** Where the guest's `kind` console listens on the compute host; a driver without it refuses (400 unavailable console type). */
  get_console: call({
    since: '1.5',
    args: Type.Object({ instance: EnvelopeWire, kind: Type.Union([Type.Literal('vnc'), Type.Literal('serial')]) }),
    encode: (a: { instance: Instance; kind: 'vnc' | 'serial' }, pin) => ({ instance: wrapAt(pin, 'Instance', a.instance), kind: a.kind }),
    decode: (w) => ({ instance: unwrap<Instance>(w.instance, 'Instance'), kind: w.kind }),
    result: Type.Object({ host: Str, port: Type.Integer({ minimum: 1, maximum: 65535 }), internal_access_path: StrOrNull }),
    encodeResult: (e: ConsoleAddress) => ({ host: e.host, port: e.port, internal_access_path: e.internalAccessPath }),
    decodeResult: (w) => ({ host: w.host, port: w.port, internalAccessPath: w.internal_access_path }),
  }),
});

/** Where a guest's console listens, as its compute host answers (get_console). */
export interface ConsoleAddress { host: string; port: number; internalAccessPath: string | null }

type ComputeSignatures = ApiSignatures<typeof COMPUTE_API>;
/** What a compute service serves: one handler per method of COMPUTE_API. */
export type ComputeHandlers = Handlers<ComputeSignatures>;
/** The arguments of a compute method, as its handler takes them. */
export type ComputeArgs<K extends keyof ComputeSignatures> = ComputeSignatures[K]['args'];

export class ComputeRpcApi extends RpcClient<ComputeSignatures> {
  /** `resolvePin` finds the lowest version a live compute speaks (see computePin). */
  constructor(bus: Bus, timeoutMs: number, resolvePin?: () => Promise<string | null>) {
    super(bus, COMPUTE_API, timeoutMs, resolvePin);
  }

  private target(instance: Instance): string {
    if (!instance.node) throw new Error(`instance ${instance.uuid} has no node`);
    return computeTopic(instance.node);
  }

  buildAndRunInstance(ctx: RpcContext, instance: Instance, node: string, spec: RequestSpec): Promise<void> {
    return this.send(computeTopic(node), ctx, 'build_and_run_instance', { instance, node, spec });
  }

  /** The simple state-changing actions share one shape. */
  instanceAction(ctx: RpcContext, action: InstanceAction, instance: Instance): Promise<void> {
    return this.send(this.target(instance), ctx, action, { instance });
  }

  rebootInstance(ctx: RpcContext, instance: Instance, rebootType: 'SOFT' | 'HARD'): Promise<void> {
    return this.send(this.target(instance), ctx, 'reboot_instance', { instance, rebootType });
  }

  rebuildInstance(ctx: RpcContext, instance: Instance, image: ImageMeta): Promise<void> {
    return this.send(this.target(instance), ctx, 'rebuild_instance', { instance, image });
  }

  snapshotInstance(ctx: RpcContext, instance: Instance, imageId: string, diskFormat: string): Promise<void> {
    return this.send(this.target(instance), ctx, 'snapshot_instance', { instance, imageId, diskFormat });
  }

  getInstanceDiagnostics(ctx: RpcContext, instance: Instance): Promise<Record<string, unknown> | null> {
    return this.send(this.target(instance), ctx, 'get_instance_diagnostics', { instance });
  }

  /** 1.2: deferred delete. */
  deferredDeleteAction(ctx: RpcContext, action: 'soft_delete_instance' | 'restore_instance', instance: Instance): Promise<void> {
    return this.send(this.target(instance), ctx, action, { instance });
  }

  /** 1.4: os-interface attach; a compute pinned older refuses it here (409). */
  attachInterface(ctx: RpcContext, instance: Instance, portId: string, createdByCompute: boolean): Promise<VifInfo[]> {
    return this.send(this.target(instance), ctx, 'attach_interface', { instance, portId, createdByCompute });
  }

  detachInterface(ctx: RpcContext, instance: Instance, portId: string): Promise<VifInfo[]> {
    return this.send(this.target(instance), ctx, 'detach_interface', { instance, portId });
  }

  /** 1.5: where the guest's console listens; a compute pinned older refuses it here (409). */
  getConsole(ctx: RpcContext, instance: Instance, kind: 'vnc' | 'serial'): Promise<ConsoleAddress> {
    return this.send(this.target(instance), ctx, 'get_console', { instance, kind });
  }

  getConsoleOutput(ctx: RpcContext, instance: Instance, length: number | null): Promise<string> {
    return this.send(this.target(instance), ctx, 'get_console_output', { instance, length });
  }

  /**
   * 1.3: one step of a move, sent to the node of `args.instance` (the source or the
   * destination, as the step says) and waited for up to `timeoutMs` (a step may copy a disk or
   * a guest's memory: longer than an ordinary call).
   */
  moveStep<K extends MoveStep>(ctx: RpcContext, step: K, args: ComputeArgs<K> & { instance: Instance }, timeoutMs?: number): Promise<ComputeSignatures[K]['result']> {
    return this.send(this.target(args.instance), ctx, step, args, timeoutMs);
  }
}

/** The compute methods a flow calls as its steps (and the API's two casts of a live migration). */
export type MoveStep =
  | 'migrate_disk_and_power_off' | 'finish_migration' | 'confirm_migration' | 'revert_migration' | 'finish_revert_migration'
  | 'pre_live_migration' | 'live_migration' | 'live_migration_force_complete' | 'live_migration_abort'
  | 'post_live_migration_at_destination' | 'post_live_migration_at_source' | 'rollback_live_migration_at_destination'
  | 'spawn_moved_instance' | 'shelve_instance' | 'shelve_offload_instance' | 'unshelve_on_host';
