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
    // The method name is the sender's data: `constructor` must be no method, as `foo` is none.
    const method = Object.hasOwn(methods, msg.method) ? methods[msg.method] : undefined;
    if (!method) throw new Conflict(`${apiName} RPC API has no method ${msg.method}`);
    return method(msg.args, msg.context);
  };
}

export function systemContext(requestId = newRequestId()): RpcContext {
  return { requestId, userId: null, projectId: null, roles: ['admin'], isAdmin: true };
}

/** Message arguments, or a function building them for the version the receivers are pinned to. */
export type RpcArgs = Record<string, unknown> | ((pin: string) => Record<string, unknown>);

/**
 * Base of every service's RPC client: builds versioned messages. The pin is the version the
 * client sends: its own, or the lowest any live receiver speaks, found by `resolvePin` when first
 * needed and again on `refreshPin` (a service restart or SIGHUP). A message carries the pinned
 * version; a method newer than the pin is refused on the sender's side.
 */
export class RpcClient {
  private pinned: string | null = null;

  constructor(
    protected readonly bus: Bus,
    readonly apiName: string,
    readonly version: string,
    protected readonly timeoutMs: number,
    private readonly resolvePin?: () => Promise<string | null>,
  ) {}

  /** The version in force: resolved lazily, since receivers may start after the sender. */
  async pin(): Promise<string> {
    if (this.pinned === null && this.resolvePin) this.pinned = await this.resolvePin();
    return this.pinned ?? this.version;
  }

  /** Forgets the pin and resolves it again from the live receivers. */
  async refreshPin(): Promise<string> {
    this.pinned = null;
    return this.pin();
  }

  private async message(ctx: RpcContext, method: string, args: RpcArgs, since: string): Promise<RpcMessage> {
    const pin = await this.pin();
    if (!versionCompatible(since, pin)) {
      throw new Conflict(`${this.apiName}.${method} needs RPC ${since}; the receivers are pinned to ${pin} until they are upgraded`);
    }
    return { method, version: pin, args: typeof args === 'function' ? args(pin) : args, context: ctx, msgId: newUuid() };
  }

  protected async call<T>(topic: string, ctx: RpcContext, method: string, args: RpcArgs, since = '1.0'): Promise<T> {
    return this.bus.call(topic, await this.message(ctx, method, args, since), this.timeoutMs) as Promise<T>;
  }

  protected async cast(topic: string, ctx: RpcContext, method: string, args: RpcArgs, since = '1.0'): Promise<void> {
    return this.bus.cast(topic, await this.message(ctx, method, args, since));
  }
}
