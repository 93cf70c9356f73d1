import { isDriverError, type GuardedVirtDriver } from '@orrery/virt-api';
import { BadRequest, Conflict, NotFound, NotImplemented } from '../common/errors.js';
import type { ComputeHandlers } from '../rpc/compute-api.js';
import { instanceRef } from './specs.js';

/**
 * Remote consoles on the compute side (compute RPC 1.5): where the guest's console listens, as
 * the driver answers (contract 1.4 getConsole). The driver's refusals become Nova's answers:
 * no console support at all 501, a kind it does not offer 400 (ConsoleTypeUnavailable), a guest
 * that does not run 409 (InstanceNotReady), a guest the hypervisor lacks 404.
 */
export function consoleMethods(driver: GuardedVirtDriver): Pick<ComputeHandlers, 'get_console'> {
  return {
    get_console: async ({ instance, kind }) => {
      if (!driver.supports('getConsole')) throw new NotImplemented(`Unable to get ${kind} console, functionality not implemented`);
      try {
        return await driver.getConsole(instanceRef(instance), kind);
      } catch (err) {
        if (isDriverError(err, 'NotSupported')) throw new BadRequest(`Unavailable console type ${kind}.`);
        if (isDriverError(err, 'InvalidState')) throw new Conflict(`Instance ${instance.uuid} is not ready`);
        if (isDriverError(err, 'InstanceNotFound')) throw new NotFound(`Instance ${instance.uuid} could not be found.`);
        throw err;
      }
    },
  };
}
