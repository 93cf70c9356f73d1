import { type Envelope, unwrap, wrap } from '../objects/envelope.js';
// Registers the objects these messages carry.
import '../objects/compute.js';
import type { RequestSpec, Selection } from '../objects/compute.js';
import type { RpcContext } from './bus.js';
import { RpcClient } from './dispatch.js';
import type { Bus } from './bus.js';

export const SCHEDULER_TOPIC = 'scheduler';
export const SCHEDULER_RPC_VERSION = '1.0';

/**
 * Scheduler RPC API.
 * 1.0: select_destinations(request_spec) -> Selection[]; claims resources in the database.
 */
export class SchedulerRpcApi extends RpcClient {
  constructor(bus: Bus, timeoutMs: number) {
    super(bus, 'scheduler', SCHEDULER_RPC_VERSION, timeoutMs);
  }

  /** Picks and claims a node for each instance of the spec; raises NoValidHost (409) when none fits. */
  async selectDestinations(ctx: RpcContext, spec: RequestSpec): Promise<Selection[]> {
    const result = await this.call<Envelope[]>(SCHEDULER_TOPIC, ctx, 'select_destinations', {
      request_spec: wrap('RequestSpec', spec),
    });
    return result.map((e) => unwrap<Selection>(e, 'Selection'));
  }
}
