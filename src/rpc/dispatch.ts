import { Conflict } from '../common/errors.js';
import { newRequestId, newUuid } from '../common/ids.js';
import { versionCompatible } from '../common/versions.js';
import type { Bus, RpcContext, RpcHandler, RpcMessage } from './bus.js';

export type RpcMethod = (args: Record<string, unknown>, ctx: RpcContext) => Promise<unknown>;

/**
 * Turns a table of methods into a bus handler for one RPC API at one version. Messages of an
 * incompatible version are refused rather than half-understood.
 */
export function dispatcher(apiName: string, version: string, methods: Record<string, RpcMethod>): RpcHandler {
  return async (msg: RpcMessage) => {
    if (!versionCompatible(msg.version, version)) {
      throw new Conflict(`${apiName} RPC API ${version} cannot handle a ${msg.version} message (${msg.method})`);
    }
    const method = methods[msg.method];
    if (!method) throw new Conflict(`${apiName} RPC API has no method ${msg.method}`);
    return method(msg.args, msg.context);
  };
}

export function systemContext(requestId = newRequestId()): RpcContext {
  return { requestId, userId: null, projectId: null, roles: ['admin'], isAdmin: true };
}

/**
 * Base of every service's RPC client: builds versioned messages. `pin` is the version the
 * client may send (the lowest any live receiver speaks); a method newer than the pin is refused
 * on the sender's side.
 */
export class RpcClient {
  constructor(
    protected readonly bus: Bus,
    readonly apiName: string,
    readonly version: string,
    protected readonly timeoutMs: number,
    private pinned: string = version,
  ) {}

  /** The version this client sends at most: its own, or lower while older receivers live. */
  get pin(): string {
    return this.pinned;
  }

  setPin(pin: string): void {
    this.pinned = pin;
  }

  protected message(ctx: RpcContext, method: string, args: Record<string, unknown>, since = '1.0'): RpcMessage {
    if (!versionCompatible(since, this.pin)) {
      throw new Conflict(`${this.apiName}.${method} needs RPC ${since}; receivers are pinned to ${this.pin}`);
    }
    return { method, version: since, args, context: ctx, msgId: newUuid() };
  }

  protected call<T>(topic: string, ctx: RpcContext, method: string, args: Record<string, unknown>, since?: string): Promise<T> {
    return this.bus.call(topic, this.message(ctx, method, args, since), this.timeoutMs) as Promise<T>;
  }

  protected cast(topic: string, ctx: RpcContext, method: string, args: Record<string, unknown>, since?: string): Promise<void> {
    return this.bus.cast(topic, this.message(ctx, method, args, since));
  }
}
