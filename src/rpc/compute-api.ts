import { Type } from '@sinclair/typebox';
import { unwrap, wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { ImageMeta, Instance, RequestSpec } from '../objects/compute.js';
import type { Bus, RpcContext } from './bus.js';
import { call, cast, defineApi, EnvelopeWire, Str, StrOrNull, type ApiSignatures, type Handlers } from './definition.js';
import { RpcClient } from './dispatch.js';

export const COMPUTE_RPC_VERSION = '1.2';

/**
 * The object versions each compute RPC version carries (Nova's object version manifest): a
 * sender pinned to an older compute backports what it sends to these.
 */
const OBJECTS_AT: Record<string, Record<string, string>> = {
  '1.0': { Instance: '1.0', ImageMeta: '1.0', RequestSpec: '1.0' },
  '1.1': { Instance: '1.1', ImageMeta: '1.0', RequestSpec: '1.0' },
  '1.2': { Instance: '1.1', ImageMeta: '1.0', RequestSpec: '1.0' },
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

/**
 * Compute RPC API, addressed to the node an instance lives on.
 * 1.0: build_and_run_instance, terminate_instance, stop/start/pause/unpause/suspend/resume,
 *      reboot_instance, rebuild_instance, snapshot_instance, get_console_output.
 * 1.1: get_instance_diagnostics; Instance 1.1.
 * 1.2: soft_delete_instance, restore_instance (deferred delete).
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
});

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

  getConsoleOutput(ctx: RpcContext, instance: Instance, length: number | null): Promise<string> {
    return this.send(this.target(instance), ctx, 'get_console_output', { instance, length });
  }
}
