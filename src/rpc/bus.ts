import { statusOf, type WireError } from '../common/errors.js';

/** Who asked: travels with every message so that actions and faults name the right user. */
export interface RpcContext {
  requestId: string;
  /** The caller's own request id (oslo's global_request_id), when its API request carried a well-formed one. */
  globalRequestId?: string;
  userId: string | null;
  projectId: string | null;
  roles: string[];
  isAdmin: boolean;
}

/** One RPC message. `version` is the version of the API the sender speaks for this call. */
export interface RpcMessage {
  method: string;
  version: string;
  args: Record<string, unknown>;
  context: RpcContext;
  /** Unique per message: receivers de-duplicate redelivered casts by it. */
  msgId: string;
}

export type RpcReply = { ok: true; result: unknown } | { ok: false; error: WireError };

export type RpcHandler = (msg: RpcMessage) => Promise<unknown>;

export interface Subscription {
  close(): Promise<void>;
}

/**
 * The RPC bus: the only way services talk. `call` waits for a reply (or times out), `cast`
 * delivers to one listener of a topic and returns at once, `fanout` delivers to every
 * listener subscribed with `fanout: true`. Implementations: in-process, AMQP.
 */
export interface Bus {
  call(topic: string, msg: RpcMessage, timeoutMs: number): Promise<unknown>;
  cast(topic: string, msg: RpcMessage): Promise<void>;
  fanout(topic: string, msg: RpcMessage): Promise<void>;
  /** Listens on a topic; several listeners of one topic share its messages round-robin. */
  serve(topic: string, handler: RpcHandler, opts?: { fanout?: boolean }): Promise<Subscription>;
  close(): Promise<void>;
  /** Whether messages can be carried now (a broker bus: its connection is up); absent: always (the in-process bus). */
  connected?(): boolean;
}

export class RpcTimeout extends Error {
  constructor(topic: string, method: string, timeoutMs: number) {
    super(`Timed out after ${timeoutMs} ms waiting for a reply to ${method} on ${topic}`);
    this.name = 'MessagingTimeout';
  }
}

/**
 * Whether a handler's failure may pass if it runs again later: a back-end it needs was
 * unreachable (503: its database, say) or a call it made timed out. A cast failing so is
 * delivered again (cast handlers are idempotent, and a cast's sender has no answer to retry on).
 */
export function mayPassLater(err: unknown): boolean {
  return err instanceof RpcTimeout || statusOf(err) === 503;
}
