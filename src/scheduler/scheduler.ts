import type { Config } from '../common/config.js';
import { NoValidHost } from '../common/errors.js';
import type { Logger } from '../common/logging.js';
import { schedulerClaimConflicts, schedulerDecisions, schedulerDuration, secondsSince } from '../common/metrics.js';
import { TimeSlice } from '../common/time-slice.js';
import type { Db } from '../db/connection.js';
import { availabilityZoneOfHost } from '../db/aggregates.js';
import { claimResources, claimedNode } from '../db/allocations.js';
import { findCandidates, groupFilter, type GroupPlacement, type HostQuery } from '../db/host-candidates.js';
import { requestedResources } from '../common/resource-classes.js';
import type { RequestSpec, Selection } from '../objects/compute.js';
import type { Bus, Subscription } from '../rpc/bus.js';
import { dispatcher } from '../rpc/dispatch.js';
import { SCHEDULER_API, SCHEDULER_RPC_VERSION, SCHEDULER_TOPIC, type SchedulerHandlers } from '../rpc/scheduler-api.js';
import { groupGuard, groupPlacementOf } from './server-group-filter.js';
import { requiredImageTypeTrait } from './image-type-filter.js';
import { ServiceHeartbeat } from '../db/service-heartbeat.js';

/**
 * How many best candidates to try claiming on, in each round of asking the database. The first
 * round asks for the best node alone: unless another scheduler races for it, its claim succeeds,
 * and each further candidate lengthens the query's walk (eight took three times as long as one).
 * Once a race is lost, alternates are worth their walk, tried in a shuffled order so that the
 * losers of one race do not all run into the next one on the same node.
 */
const FIRST_ROUND = 1;
const LATER_ROUNDS = 8;
/**
 * Rounds go on while the query still finds candidates: a refused claim means another consumer
 * took that room, so each lost round shrinks what is left and the loop ends when the room does.
 * Whole-node classes (total 1) lose a race at every collision: with three rounds of unshuffled
 * candidates, 50 concurrent boots for 40 such nodes on PostgreSQL placed 24 and sent 26 to ERROR
 * with 16 nodes free (3 runs of 3; shuffling alone placed 40 in 3 runs, but only by luck). The
 * bound only keeps a request from circling while deletes keep freeing room (64: up to 505 claims).
 */
const MAX_ROUNDS = 64;

function shuffled<T>(items: T[]): T[] {
  for (let i = items.length - 1; i > 0; i--) {
    const j = Math.floor(Math.random() * (i + 1));
    [items[i], items[j]] = [items[j]!, items[i]!];
  }
  return items;
}

/** Traits a flavor's extra specs or an image's properties require or forbid (`trait:NAME=required|forbidden`). */
export function traitsOf(spec: RequestSpec): { required: string[]; forbidden: string[] } {
  const required = new Set<string>();
  const forbidden = new Set<string>();
  for (const source of [spec.flavor.extraSpecs, spec.image.properties]) {
    for (const [key, value] of Object.entries(source)) {
      if (!key.startsWith('trait:')) continue;
      if (value === 'required') required.add(key.slice(6));
      else if (value === 'forbidden') forbidden.add(key.slice(6));
    }
  }
  return { required: [...required], forbidden: [...forbidden] };
}

/**
 * The scheduler: filters and weighs nodes, then claims resources for each instance atomically in
 * the database. Several schedulers may run at once; claims stay correct because each claim is
 * a conditional update.
 */
export class SchedulerService {
  private sub?: Subscription;
  private readonly heartbeat: ServiceHeartbeat;

  constructor(private readonly db: Db, private readonly config: Config, private readonly log: Logger, host: string) {
    this.heartbeat = new ServiceHeartbeat(db, config, { host, binary: 'nova-scheduler', topic: SCHEDULER_TOPIC, version: SCHEDULER_RPC_VERSION });
  }

  async start(bus: Bus): Promise<void> {
    this.sub = await bus.serve(SCHEDULER_TOPIC, dispatcher(SCHEDULER_API, this.handlers()));
    await this.heartbeat.start();
  }

  /** The scheduler's side of SCHEDULER_API. */
  handlers(): SchedulerHandlers {
    return {
      select_destinations: async ({ spec }) => this.selectDestinations(spec),
    };
  }

  async stop(): Promise<void> {
    await this.sub?.close();
    this.heartbeat.stop();
  }

  async selectDestinations(spec: RequestSpec): Promise<Selection[]> {
    const traits = traitsOf(spec);
    // One more EXISTS on node_traits per candidate: below the noise (scheduler bench, 10000 nodes,
    // 10000 requests, 3 runs each: p50 0.18-0.24 ms with it, 0.19-0.24 ms without).
    const imageType = this.config.bool('scheduler', 'query_placement_for_image_type_support') ? requiredImageTypeTrait(spec.image) : null;
    if (imageType !== null && !traits.required.includes(imageType)) traits.required.push(imageType);
    const query: HostQuery = {
      resources: requestedResources(spec.flavor),
      upSince: new Date(Date.now() - this.config.num('DEFAULT', 'service_down_time') * 1000).toISOString(),
      availabilityZone: spec.availabilityZone,
      defaultAvailabilityZone: this.config.str('DEFAULT', 'default_availability_zone'),
      hypervisorType: spec.image.properties.hypervisor_type ?? null,
      requiredTraits: traits.required,
      forbiddenTraits: traits.forbidden,
      ignoreHosts: spec.ignoreHosts,
      forceHost: spec.forceHost,
      forceNode: spec.forceNode,
    };
    // Every instance of one request was booted with the same hint.
    const group = spec.instanceUuids.length > 0 ? await groupPlacementOf(this.db, spec.instanceUuids[0]!) : null;
    const selections: Selection[] = [];
    // A multi-create asks for hundreds at once: a turn of the event loop every few ms between claims.
    const slice = new TimeSlice();
    const started = process.hrtime.bigint();
    try {
      for (const instanceUuid of spec.instanceUuids) {
        await slice.due();
        const selection = await this.placeOne(instanceUuid, query, group);
        if (!selection) {
          schedulerDecisions.inc({ outcome: 'no_valid_host' });
          this.log.info({ instanceUuid, flavor: spec.flavor.name }, 'no valid host');
          throw new NoValidHost();
        }
        schedulerDecisions.inc({ outcome: 'selected' });
        selections.push(selection);
      }
    } finally {
      schedulerDuration.observe(secondsSince(started));
    }
    // One line a request (each claim is a debug line): a multi-create of a thousand writes one.
    this.log.info({ instances: selections.length, nodes: new Set(selections.map((s) => s.nodeUuid)).size, flavor: spec.flavor.name, attempt: spec.attempt + 1 }, 'scheduling decided');
    return selections;
  }

  /**
   * Claims on the best candidate; if another scheduler won the race for it, tries the next ones.
   * A repeated request (its first reply was lost) gets the claim it made, not a second one.
   */
  private async placeOne(instanceUuid: string, base: HostQuery, group: GroupPlacement | null): Promise<Selection | null> {
    const query: HostQuery = group ? { ...base, group: groupFilter(group, instanceUuid) } : base;
    // Members of a server group lose races to each other by design (the group's guard refuses
    // all but one claim for a host's last place): they go on asking like everyone else.
    const guard = group ? groupGuard(group, instanceUuid) : undefined;
    for (let round = 0; round < MAX_ROUNDS; round++) {
      const found = await findCandidates(this.db, query, round === 0 ? FIRST_ROUND : LATER_ROUNDS);
      if (found.length === 0) break;
      for (const c of round === 0 ? found : shuffled(found)) {
        if (await claimResources(this.db, instanceUuid, c.uuid, query.resources, guard)) {
          this.log.debug({ instance: instanceUuid, host: c.host, node: c.node }, 'selected destination');
          return { instanceUuid, host: c.host, node: c.node, nodeUuid: c.uuid, availabilityZone: c.zone ?? query.defaultAvailabilityZone };
        }
        // Refused: the node filled up since the query, or the instance holds a claim already.
        schedulerClaimConflicts.inc();
        const held = await this.heldClaim(instanceUuid);
        if (held) return held;
      }
    }
    // Nothing fits now: perhaps because of this instance's own claim.
    return this.heldClaim(instanceUuid);
  }

  /**
   * The claim the instance holds already, if any, with its host's zone. Looked up only once a
   * claim is refused: a claim changes nothing for an instance that holds resources, so the
   * common case costs no lookup.
   */
  private async heldClaim(instanceUuid: string): Promise<Selection | null> {
    const held = await claimedNode(this.db, instanceUuid);
    if (!held) return null;
    const availabilityZone = await availabilityZoneOfHost(this.db, this.config, held.host);
    return { instanceUuid, host: held.host, node: held.node, nodeUuid: held.uuid, availabilityZone };
  }
}
