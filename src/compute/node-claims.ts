import { AsyncLocalStorage } from 'node:async_hooks';
import { versionCompatible } from '../common/versions.js';
import type { Bus, RpcContext } from '../rpc/bus.js';
import { ConductorRpcApi } from '../rpc/conductor-api.js';
import type { RpcArgs } from '../rpc/dispatch.js';
import { claimArgs, StaleNodeOwnership, type NodeClaim } from '../rpc/node-ownership.js';

/**
 * The claim a compute presents with its writes about a shared node. A message on `compute.<node>`
 * runs inside servingNode(node): every guarded conductor write it makes, however deep in the
 * operation, carries this host's claim on that node. Kept out of the operations' signatures on
 * purpose: the operations are the same for shared and local nodes, and a claim threaded through
 * each of them by hand is one a new operation would forget.
 */
const serving = new AsyncLocalStorage<string>();

/** The conductor writes that carry a claim (conductor RPC 1.4): each operation's first write is one of them. */
const GUARDED = new Set(['instance_update', 'instance_destroyed', 'action_event_start']);

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

  protected override call<T>(topic: string, ctx: RpcContext, method: string, args: RpcArgs, since = '1.0'): Promise<T> {
    const node = serving.getStore();
    if (node === undefined || !GUARDED.has(method)) return super.call(topic, ctx, method, args, since);
    const claim = this.claimFor(node);
    if (!claim) return Promise.reject(new StaleNodeOwnership([node], `node ownership is stale for ${node}: this compute no longer owns it`));
    return super.call(topic, ctx, method, (pin) => ({
      ...(typeof args === 'function' ? args(pin) : args),
      ...(versionCompatible('1.4', pin) ? claimArgs(claim) : {}),
    }), since);
  }
}
