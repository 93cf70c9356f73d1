import { CAPABILITY_TRAITS } from '@orrery/virt-api';
import { Conflict, NotImplemented } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { nodeHasTrait } from '../db/node-traits.js';
import type { ActionCapability } from '../objects/actions.js';

/**
 * The API refuses an operation the driver of the instance's node did not declare, before
 * anything reaches the driver. Drivers' capabilities reach the database as node traits
 * (the contract's CAPABILITY_TRAITS); which operation needs which capability is each action's
 * `capability` in the catalogue (src/objects/actions.ts), the one map from operations to them.
 */

/** The trait a node needs for `capability`. */
export function traitFor(capability: ActionCapability): string {
  return CAPABILITY_TRAITS[capability.needs];
}

/**
 * Refuses the operation when the node lacks its trait: 409 for asynchronous actions (Nova's
 * conflict for an action the instance cannot take), 501 for synchronous ones (Nova's
 * feature-not-supported).
 */
export async function requireCapability(db: Db, nodeUuid: string | null, capability: ActionCapability): Promise<void> {
  if (nodeUuid !== null && await nodeHasTrait(db, nodeUuid, traitFor(capability))) return;
  if (capability.refusal === 'sync') throw new NotImplemented('The requested functionality is not supported.');
  throw new Conflict(`Cannot '${capability.operation}' instance: the hypervisor of its node does not support it`);
}
