import type { GuardedVirtDriver } from '@orrery/virt-api';
import { Conflict } from '../common/errors.js';
import type { ComputeHandlers } from '../rpc/compute-api.js';
import type { InstanceNetworking } from './networking.js';
import { instanceRef } from './specs.js';

export interface InterfaceDeps {
  driver: GuardedVirtDriver;
  networking: InstanceNetworking | null;
}

/** Nova's words for a driver that cannot hot-plug (the API answers 409 with them). */
const NOT_SUPPORTED = 'Network driver does not support this function.';

function attachable(deps: InterfaceDeps): InstanceNetworking {
  if (!deps.driver.supports('attachInterface') || !deps.driver.supports('detachInterface') || !deps.networking) throw new Conflict(NOT_SUPPORTED);
  return deps.networking;
}

/**
 * os-interface on the compute side (compute RPC 1.4): the port (made or given by the API, with
 * device_id already the server) is bound to this host, plugged into the guest, and the server's
 * info cache answered; a failed plug unbinds a user's port again (the API deletes a port it made
 * for the attach). Detach unplugs it, then deletes it (made by Orrery) or unbinds it.
 */
export function interfaceMethods(deps: InterfaceDeps): Pick<ComputeHandlers, 'attach_interface' | 'detach_interface'> {
  const d = deps.driver;
  return {
    attach_interface: async ({ instance, portId, createdByCompute }) => {
      const networking = attachable(deps);
      const before = instance.networkInfo ?? [];
      await networking.bindTo({ uuid: instance.uuid, networkInfo: before }, networking.hostName);
      const made = new Set(before.filter((v) => v.created_by_compute).map((v) => v.port_id));
      if (createdByCompute) made.add(portId);
      const ports = await networking.portsOf({ uuid: instance.uuid, networkInfo: before });
      const { vifs, cache } = await networking.describe(ports, made);
      const vif = vifs.find((v) => v.id === portId);
      if (!vif) throw new Conflict(`Port ${portId} is not bound to instance ${instance.uuid}.`);
      try {
        if (d.supports('plugVifs')) await d.plugVifs(instanceRef(instance), [vif]);
        await d.attachInterface(instanceRef(instance), vif);
      } catch (err) {
        if (!createdByCompute) await networking.release([], [portId]).catch(() => undefined);
        throw err;
      }
      return cache;
    },
    detach_interface: async ({ instance, portId }) => {
      const networking = attachable(deps);
      const { vifs, ports } = await networking.current(instance);
      const vif = vifs.find((v) => v.id === portId);
      if (vif) {
        await d.detachInterface(instanceRef(instance), vif);
        if (d.supports('unplugVifs')) await d.unplugVifs(instanceRef(instance), [vif]);
      }
      const mine = (instance.networkInfo ?? []).some((v) => v.port_id === portId && v.created_by_compute);
      await networking.release(mine ? [portId] : [], mine ? [] : [portId]);
      const made = new Set((instance.networkInfo ?? []).filter((v) => v.created_by_compute).map((v) => v.port_id));
      return (await networking.describe(ports.filter((p) => p.id !== portId), made)).cache;
    },
  };
}
