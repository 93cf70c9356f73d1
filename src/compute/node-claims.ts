import { AsyncLocalStorage } from 'node:async_hooks';
import { versionCompatible } from '../common/versions.js';
import type { Bus } from '../rpc/bus.js';
import { ConductorRpcApi } from '../rpc/conductor-api.js';
import type { MethodDef } from '../rpc/definition.js';
import { claimArgs, StaleNodeOwnership, type NodeClaim } from '../rpc/node-ownership.js';

/**
 * The claim a compute presents with its writes about a shared node. A message on `compute.<node>`
 * runs inside servingNode(node): every guarded conductor write it makes, however deep in the
 * operation, carries this host's claim on that node. Kept out of the operations' signatures on
 * purpose: the operations are the same for shared and local nodes, and a claim threaded through
 * each of them by hand is one a new operation would forget.
 */
const serving = new AsyncLocalStorage<string>();

/** Runs `fn` as the handling of a message for shared node `node`. */
export function servingNode<T>(node: string, fn: () => Promise<T>): Promise<T> {
  return serving.run(node, fn);
}

/**
 * The conductor client of a compute with shared nodes: guarded writes made while serving a
 * shared node carry this host's claim on it; with no claim held (the node was dropped), the
 * write is refused here already, before anything reaches the back-end.
 */
export class ClaimingConductorApi extends ConductorRpcApi {
  constructor(bus: Bus, timeoutMs: number, resolvePin: () => Promise<string | null>, private readonly claimFor: (node: string) => NodeClaim | null) {
    super(bus, timeoutMs, resolvePin);
  }

  /** The writes that carry a claim (conductor RPC 1.4) are those CONDUCTOR_API marks `nodeClaim`: each operation's first write is one. */
  protected override decorate(_name: string, def: MethodDef<unknown, unknown>, args: Record<string, unknown>, pin: string): Record<string, unknown> {
    const node = serving.getStore();
    if (node === undefined || !def.nodeClaim) return args;
    const claim = this.claimFor(node);
    if (!claim) throw new StaleNodeOwnership([node], `node ownership is stale for ${node}: this compute no longer owns it`);
    return versionCompatible('1.4', pin) ? { ...args, ...claimArgs(claim) } : args;
  }
}
