import { OrreryError } from '../common/errors.js';

/**
 * Node ownership on the wire (docs/drivers.md "Shared nodes and ownership"). A shared node is
 * served by one compute host at a time, chosen by the conductor's hash ring; the conductor
 * bumps the node's generation every time it moves. Every write a compute makes about a shared
 * node carries the claim it holds, and the conductor refuses a claim that is not the current
 * one — in the same transaction as the write, so a compute that was paused or partitioned while
 * its nodes moved cannot act on them when it wakes up.
 */
export interface NodeClaim {
  /** The compute host presenting it. */
  host: string;
  /** The node's UUID (its resource provider). */
  nodeUuid: string;
  /** The ownership generation the sender holds for it. */
  generation: number;
}

/** The conductor refused a claim: the node moved (to another host, or to a newer generation). */
export class StaleNodeOwnership extends OrreryError {
  constructor(readonly nodes: string[], message = `node ownership is stale for ${nodes.join(', ')}: the node moved to another compute service`) {
    super(409, 'conflictingRequest', message);
    this.name = 'StaleNodeOwnership';
  }
}

/** Whether an error (raised here, or rebuilt from RPC) is a refused claim. */
export function isStaleOwnership(err: unknown): boolean {
  return err instanceof Error && err.name === 'StaleNodeOwnership';
}

/** The node UUIDs a refused claim names (in its message, which is what crosses the wire). */
export function staleNodesOf(err: unknown): string[] {
  if (err instanceof StaleNodeOwnership) return err.nodes;
  const m = /stale for ([^:]+):/.exec(err instanceof Error ? err.message : '');
  return m ? m[1]!.split(', ') : [];
}

/** A claim in an RPC message's arguments (snake case, as every argument). */
export function claimArgs(claim: NodeClaim | null | undefined): Record<string, unknown> {
  return claim ? { node_claim: { host: claim.host, node_uuid: claim.nodeUuid, generation: claim.generation } } : {};
}

/** The claim a message carries, if any. */
export function claimOf(args: Record<string, unknown>): NodeClaim | null {
  const c = args.node_claim as { host?: unknown; node_uuid?: unknown; generation?: unknown } | null | undefined;
  if (!c || typeof c.host !== 'string' || typeof c.node_uuid !== 'string' || typeof c.generation !== 'number') return null;
  return { host: c.host, nodeUuid: c.node_uuid, generation: c.generation };
}
