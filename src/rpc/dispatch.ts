import { Conflict } from '../common/errors.js';
import { newRequestId, newUuid } from '../common/ids.js';
import { versionCompatible } from '../common/versions.js';
import { rpcCallDuration, rpcCallTimeouts, rpcHandled, rpcHandleDuration, rpcSent, secondsSince } from '../common/metrics.js';
import { withLogContext } from '../common/logging.js';
import { RpcTimeout, type Bus, type RpcContext, type RpcHandler, type RpcMessage } from './bus.js';
import { methodNames, type Handlers, type MethodDef, type RpcApi, type Signature } from './definition.js';

/** A handler bound to its definition: wire arguments in, wire answer out. */
type WireMethod = (wire: Record<string, unknown>, ctx: RpcContext) => Promise<unknown>;

function bind<A, R>(def: MethodDef<A, R>, handler: (args: A, ctx: RpcContext) => Promise<R>): WireMethod {
  return async (wire, ctx) => def.encodeResult(await handler(def.decodeArgs(wire), ctx));
}

/**
 * The bus handler of one RPC API at its version: each message's arguments are checked and
 * decoded by its method's definition, handled, and the answer encoded. Messages of an
 * incompatible version are refused rather than half-understood.
 */
export function dispatcher<S extends Record<string, Signature>>(api: RpcApi<S>, handlers: Handlers<S>): RpcHandler {
  const table = new Map<string, WireMethod>();
  const bindName = <K extends Extract<keyof S, string>>(name: K) => table.set(name, bind(api.methods[name], handlers[name]));
  for (const name of methodNames(api)) bindName(name);
  return async (msg: RpcMessage) => {
    if (!versionCompatible(msg.version, api.version)) {
      throw new Conflict(`${api.name} RPC API ${api.version} cannot handle a ${msg.version} message (${msg.method})`);
    }
    // The method name is the sender's data: a Map, so `constructor` is no method, as `foo` is none.
    const method = table.get(msg.method);
    if (!method) {
      rpcHandled.inc({ api: api.name, method: '(unknown)', outcome: 'error' });
      throw new Conflict(`${api.name} RPC API has no method ${msg.method}`);
    }
    const labels = { api: api.name, method: msg.method };
    const start = process.hrtime.bigint();
    // Every line the handler (and the work it leaves running) writes carries the request's ids.
    const { requestId, globalRequestId } = msg.context;
    try {
      const answer = await withLogContext({ request_id: requestId, ...(globalRequestId ? { global_request_id: globalRequestId } : {}) }, () => method(msg.args, msg.context));
      rpcHandled.inc({ ...labels, outcome: 'ok' });
      return answer;
    } catch (err) {
      rpcHandled.inc({ ...labels, outcome: 'error' });
      throw err;
    } finally {
      rpcHandleDuration.observe(labels, secondsSince(start));
    }
  };
}

export function systemContext(requestId = newRequestId()): RpcContext {
  return { requestId, userId: null, projectId: null, roles: ['admin'], isAdmin: true };
}

/**
 * Base of every service's RPC client, typed by the API's definition: builds versioned messages.
 * The pin is the version the client sends: its own, or the lowest any live receiver speaks,
 * found by `resolvePin` when first needed and again on `refreshPin` (a service restart or
 * SIGHUP). A message carries the pinned version; a method newer than the pin is refused on the
 * sender's side.
 */
export class RpcClient<S extends Record<string, Signature>> {
  private pinned: string | null = null;
  readonly apiName: string;
  readonly version: string;

  constructor(
    protected readonly bus: Bus,
    protected readonly api: RpcApi<S>,
    protected readonly timeoutMs: number,
    private readonly resolvePin?: () => Promise<string | null>,
  ) {
    this.apiName = api.name;
    this.version = api.version;
  }

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

  /**
   * What a client adds to a method's wire arguments at `pin`, or raises instead of sending: the
   * node claim of conductor 1.4 (compute/node-claims.ts). Nothing by default.
   */
  protected decorate(_name: string, _def: MethodDef<unknown, unknown>, args: Record<string, unknown>, _pin: string): Record<string, unknown> {
    return args;
  }

  /**
   * Sends `name` to `topic` as its definition says (a call waits for the answer, a cast does
   * not); a call waits `timeoutMs`, the client's own timeout unless given.
   */
  protected async send<K extends Extract<keyof S, string>>(
    topic: string, ctx: RpcContext, name: K, args: S[K]['args'], timeoutMs = this.timeoutMs,
  ): Promise<S[K]['result']> {
    const def = this.api.methods[name];
    const pin = await this.pin();
    if (!versionCompatible(def.since, pin)) {
      throw new Conflict(`${this.apiName}.${name} needs RPC ${def.since}; the receivers are pinned to ${pin} until they are upgraded`);
    }
    const msg: RpcMessage = { method: name, version: pin, args: this.decorate(name, def, def.encodeArgs(args, pin), pin), context: ctx, msgId: newUuid() };
    const labels = { api: this.apiName, method: name };
    rpcSent.inc({ ...labels, kind: def.kind });
    if (def.kind === 'cast') {
      await this.bus.cast(topic, msg);
      return def.decodeResult(null);
    }
    const start = process.hrtime.bigint();
    try {
      return def.decodeResult(await this.bus.call(topic, msg, timeoutMs));
    } catch (err) {
      if (err instanceof RpcTimeout) rpcCallTimeouts.inc(labels);
      throw err;
    } finally {
      rpcCallDuration.observe(labels, secondsSince(start));
    }
  }
}
