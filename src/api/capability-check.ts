import { CAPABILITY_TRAITS, type BooleanCapability } from '@orrery/virt-api';
import { Conflict, NotImplemented } from '../common/errors.js';
import type { Db } from '../db/connection.js';

/**
 * The API refuses an operation the driver of the instance's node did not declare, before
 * anything reaches the driver. Drivers' capabilities reach the database as node traits
 * (the contract's CAPABILITY_TRAITS); this is the one map from API operations to them.
 */
export const OPERATION_CAPABILITY = {
  stop: 'powerControl',
  start: 'powerControl',
  reboot: 'reboot',
  pause: 'pause',
  unpause: 'pause',
  suspend: 'suspend',
  resume: 'suspend',
  rebuild: 'rebuild',
  createImage: 'snapshot',
  getConsoleOutput: 'consoleOutput',
} as const satisfies Record<string, BooleanCapability>;

export type GatedOperation = keyof typeof OPERATION_CAPABILITY;

/** The trait a node needs for `op`. */
export function traitFor(op: GatedOperation): string {
  return CAPABILITY_TRAITS[OPERATION_CAPABILITY[op]];
}

export async function nodeHasTrait(db: Db, nodeUuid: string, trait: string): Promise<boolean> {
  const row = await db.selectFrom('node_traits').select('trait')
    .where('node_uuid', '=', nodeUuid).where('trait', '=', trait).executeTakeFirst();
  return row !== undefined;
}

/**
 * Refuses `op` when the node lacks its trait: 409 for asynchronous actions (Nova's conflict for
 * an action the instance cannot take), 501 for synchronous ones (Nova's feature-not-supported).
 */
export async function requireCapability(db: Db, nodeUuid: string | null, op: GatedOperation, kind: 'async' | 'sync'): Promise<void> {
  if (nodeUuid !== null && await nodeHasTrait(db, nodeUuid, traitFor(op))) return;
  if (kind === 'sync') throw new NotImplemented('The requested functionality is not supported.');
  throw new Conflict(`Cannot '${op}' instance: the hypervisor of its node does not support it`);
}
