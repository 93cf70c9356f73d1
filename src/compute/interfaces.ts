import type { GuardedVirtDriver } from '@orrery/virt-api';
import { Conflict } from '../common/errors.js';
import type { ComputeHandlers } from '../rpc/compute-api.js';
import type { InstanceNetworking, VifDriver } from './networking.js';
import { instanceRef } from './specs.js';

export interface InterfaceDeps {
  driver: GuardedVirtDriver;
  vifs: VifDriver;
  networking: InstanceNetworking | null;
}

/** Nova's words for a driver that cannot hot-plug (its compute answers 409 through the API). */
const NOT_SUPPORTED = 'Network driver does not support this function.';

function attachable(deps: InterfaceDeps): { vifs: Required<Pick<VifDriver, 'attachInterface' | 'detachInterface'>>; networking: InstanceNetworking } {
  const caps = deps.driver.capabilities() as { interfaceAttach?: boolean };
  const { attachInterface, detachInterface } = deps.vifs;
  if (!caps.interfaceAttach || !attachInterface || !detachInterface || !deps.networking) throw new Conflict(NOT_SUPPORTED);
  return {
    vifs: { attachInterface: attachInterface.bind(deps.vifs), detachInterface: detachInterface.bind(deps.vifs) },
    networking: deps.networking,
  };
}

/**
 * os-interface on the compute side (compute RPC 1.4): the port is bound to this host, plugged
 * into the guest, and the server's info cache answered; a failed plug unbinds it again (the API
 * deletes a port it made for the attach).
 */
export function interfaceMethods(deps: InterfaceDeps): Pick<ComputeHandlers, 'attach_interface' | 'detach_interface'> {
  return {
    attach_interface: async ({ instance, portId, createdByCompute }) => {
      const { vifs, networking } = attachable(deps);
      await networking.bindTo({ uuid: instance.uuid, networkInfo: null }, networking.hostName);
      const cacheBefore = instance.networkInfo ?? [];
      const made = new Set(cacheBefore.filter((v) => v.created_by_compute).map((v) => v.port_id));
      if (createdByCompute) made.add(portId);
      const ports = await networking.portsOf({ uuid: instance.uuid, networkInfo: cacheBefore });
      const { vifs: all, cache } = await networking.describe(ports, made);
      const vif = all.find((v) => v.id === portId);
      if (!vif) throw new Conflict(`Port ${portId} is not bound to instance ${instance.uuid}.`);
      try {
        await deps.vifs.plugVifs?.(instanceRef(instance), [vif]);
        await vifs.attachInterface(instanceRef(instance), vif);
      } catch (err) {
        if (!createdByCompute) await networking.release([], [portId]).catch(() => undefined);
        throw err;
      }
      return cache;
    },
    detach_interface: async ({ instance, portId }) => {
      const { vifs, networking } = attachable(deps);
      const { vifs: all, ports } = await networking.current(instance);
      const vif = all.find((v) => v.id === portId);
      if (vif) {
        await vifs.detachInterface(instanceRef(instance), vif);
        await deps.vifs.unplugVifs?.(instanceRef(instance), [vif]);
      }
      const mine = (instance.networkInfo ?? []).some((v) => v.port_id === portId && v.created_by_compute);
      await networking.release(mine ? [portId] : [], mine ? [] : [portId]);
      const rest = ports.filter((p) => p.id !== portId);
      const made = new Set((instance.networkInfo ?? []).filter((v) => v.created_by_compute).map((v) => v.port_id));
      return (await networking.describe(rest, made)).cache;
    },
  };
}
