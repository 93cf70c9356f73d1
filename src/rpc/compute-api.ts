import { wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { ImageMeta, Instance, RequestSpec } from '../objects/compute.js';
import type { Bus, RpcContext } from './bus.js';
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

/**
 * Compute RPC API, addressed to the node an instance lives on.
 * 1.0: build_and_run_instance, terminate_instance, stop/start/pause/unpause/suspend/resume,
 *      reboot_instance, rebuild_instance, snapshot_instance, get_console_output.
 * 1.1: get_instance_diagnostics; Instance 1.1.
 * 1.2: soft_delete_instance, restore_instance (deferred delete).
 */
export class ComputeRpcApi extends RpcClient {
  /** `resolvePin` finds the lowest version a live compute speaks (see computePin). */
  constructor(bus: Bus, timeoutMs: number, resolvePin?: () => Promise<string | null>) {
    super(bus, 'compute', COMPUTE_RPC_VERSION, timeoutMs, resolvePin);
  }

  private target(instance: Instance): string {
    if (!instance.node) throw new Error(`instance ${instance.uuid} has no node`);
    return computeTopic(instance.node);
  }

  /** The request spec travels along so that a failed build can be rescheduled (Nova's filter_properties). */
  buildAndRunInstance(ctx: RpcContext, instance: Instance, node: string, spec: RequestSpec): Promise<void> {
    return this.cast(computeTopic(node), ctx, 'build_and_run_instance', (pin) => ({
      instance: wrapAt(pin, 'Instance', instance), node, request_spec: wrapAt(pin, 'RequestSpec', spec),
    }));
  }

  /** The simple state-changing actions share one shape: cast, the compute service does the rest. */
  instanceAction(ctx: RpcContext, action: InstanceAction, instance: Instance): Promise<void> {
    return this.cast(this.target(instance), ctx, action, (pin) => ({ instance: wrapAt(pin, 'Instance', instance) }));
  }

  rebootInstance(ctx: RpcContext, instance: Instance, rebootType: 'SOFT' | 'HARD'): Promise<void> {
    return this.cast(this.target(instance), ctx, 'reboot_instance', (pin) => ({ instance: wrapAt(pin, 'Instance', instance), reboot_type: rebootType }));
  }

  rebuildInstance(ctx: RpcContext, instance: Instance, image: ImageMeta): Promise<void> {
    return this.cast(this.target(instance), ctx, 'rebuild_instance', (pin) => ({
      instance: wrapAt(pin, 'Instance', instance), image: wrapAt(pin, 'ImageMeta', image),
    }));
  }

  snapshotInstance(ctx: RpcContext, instance: Instance, imageId: string, diskFormat: string): Promise<void> {
    return this.cast(this.target(instance), ctx, 'snapshot_instance', (pin) => ({
      instance: wrapAt(pin, 'Instance', instance), image_id: imageId, disk_format: diskFormat,
    }));
  }

  getInstanceDiagnostics(ctx: RpcContext, instance: Instance): Promise<Record<string, unknown>> {
    return this.call(this.target(instance), ctx, 'get_instance_diagnostics', (pin) => ({ instance: wrapAt(pin, 'Instance', instance) }), '1.1');
  }

  /** 1.2: power the guest off and mark it SOFT_DELETED, or back on and ACTIVE (deferred delete). */
  deferredDeleteAction(ctx: RpcContext, action: 'soft_delete_instance' | 'restore_instance', instance: Instance): Promise<void> {
    return this.cast(this.target(instance), ctx, action, (pin) => ({ instance: wrapAt(pin, 'Instance', instance) }), '1.2');
  }

  getConsoleOutput(ctx: RpcContext, instance: Instance, length: number | null): Promise<string> {
    return this.call(this.target(instance), ctx, 'get_console_output', (pin) => ({ instance: wrapAt(pin, 'Instance', instance), length }));
  }
}
