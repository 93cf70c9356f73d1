import { Type } from '@sinclair/typebox';
import { unwrap, wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { RequestSpec, Selection } from '../objects/compute.js';
import type { Bus, RpcContext } from './bus.js';
import { call, defineApi, EnvelopeWire, type ApiSignatures, type Handlers } from './definition.js';
import { RpcClient } from './dispatch.js';

export const SCHEDULER_TOPIC = 'scheduler';
export const SCHEDULER_RPC_VERSION = '1.0';

/**
 * Scheduler RPC API.
 * 1.0: select_destinations(request_spec) -> Selection[]; claims resources in the database.
 */
export const SCHEDULER_API = defineApi('scheduler', SCHEDULER_RPC_VERSION, {
  /** Picks and claims a node for each instance of the spec; raises NoValidHost (409) when none fits. */
  select_destinations: call({
    args: Type.Object({ request_spec: EnvelopeWire }),
    encode: (a: { spec: RequestSpec }) => ({ request_spec: wrap('RequestSpec', a.spec) }),
    decode: (w) => ({ spec: unwrap<RequestSpec>(w.request_spec, 'RequestSpec') }),
    result: Type.Array(EnvelopeWire),
    encodeResult: (selections: Selection[]) => selections.map((s) => wrap('Selection', s)),
    decodeResult: (envs) => envs.map((e) => unwrap<Selection>(e, 'Selection')),
  }),
});

/** What the scheduler serves: one handler per method of SCHEDULER_API. */
export type SchedulerHandlers = Handlers<ApiSignatures<typeof SCHEDULER_API>>;

export class SchedulerRpcApi extends RpcClient<ApiSignatures<typeof SCHEDULER_API>> {
  constructor(bus: Bus, timeoutMs: number) {
    super(bus, SCHEDULER_API, timeoutMs);
  }

  selectDestinations(ctx: RpcContext, spec: RequestSpec): Promise<Selection[]> {
    return this.send(SCHEDULER_TOPIC, ctx, 'select_destinations', { spec });
  }
}
