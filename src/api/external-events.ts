import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, errorMessage, NotFound } from '../common/errors.js';
import { refreshInfoCache } from './server-ports.js';
import { isUuidLike } from '../common/ids.js';
import { getInstanceRow } from '../db/instances.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';

/**
 * POST /os-server-external-events (admin): Neutron, Cinder and Cyborg tell Nova about a
 * server. Each event is answered with its own code — 200 accepted, 404 no such server, 422
 * the server is on no host — and the whole request with 200 when all were accepted, 207 when
 * some were not, 404 when none were (Nova's words). A network-changed or network-vif-deleted
 * event (the Network API's notifier: a port's addresses, floating IPs or existence changed)
 * refreshes the server's info cache from the Network API, in the background (Nova's compute
 * does it on the event); any other accepted event is only logged, as Nova's compute logs an
 * event nobody waits for.
 */

/** Event names by the microversion that added them. */
const EVENT_SINCE: ReadonlyArray<[string, string]> = [
  ['network-changed', '2.0'], ['network-vif-plugged', '2.0'], ['network-vif-unplugged', '2.0'], ['network-vif-deleted', '2.0'],
  ['volume-extended', '2.51'], ['power-update', '2.76'], ['accelerator-request-bound', '2.82'], ['volume-reimaged', '2.93'],
];
const STATUSES = ['failed', 'completed', 'in-progress'];

const Event = Type.Object({
  name: Type.Union(EVENT_SINCE.map(([n]) => Type.Literal(n))),
  server_uuid: Type.String({ minLength: 1, maxLength: 36 }),
  tag: Type.Optional(Type.String({ maxLength: 255 })),
  status: Type.Optional(Type.Union(STATUSES.map((s) => Type.Literal(s)))),
}, { additionalProperties: false });
const Body = Type.Object({ events: Type.Array(Event, { minItems: 1, maxItems: 1000 }) }, { additionalProperties: false });
type Body = Static<typeof Body>;

function checkNames(req: FastifyRequest, events: Body['events']): void {
  const since = new Map(EVENT_SINCE);
  for (const e of events) {
    if (!mvAtLeast(req, since.get(e.name) ?? '2.0')) {
      throw new BadRequest(`Invalid input for field/attribute name. Value: ${e.name}. '${e.name}' is not one of the events of this microversion`);
    }
    if (!isUuidLike(e.server_uuid)) {
      throw new BadRequest(`Invalid input for field/attribute server_uuid. Value: ${e.server_uuid}. '${e.server_uuid}' is not a 'uuid'`);
    }
    // 2.76: power-update carries the new power state as its tag.
    if (e.name === 'power-update' && e.tag !== 'POWER_ON' && e.tag !== 'POWER_OFF') {
      throw new BadRequest(`Invalid input for field/attribute tag. Value: ${e.tag ?? 'None'}. The tag of a power-update event must be POWER_ON or POWER_OFF`);
    }
  }
}

/** One refresh per server and event batch; its failure is logged (the next event or change refreshes again). */
async function refreshLater(deps: Pick<ComputeApiDeps, 'db' | 'log' | 'network'>, uuid: string): Promise<void> {
  try {
    const row = await getInstanceRow(deps.db, uuid);
    if (row && deps.network) await refreshInfoCache(deps.network, deps.db, row);
  } catch (err) {
    deps.log.warn({ instance: uuid, err: errorMessage(err) }, 'could not refresh the info cache');
  }
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'log' | 'network'>): void {
  routeBoth<{ Body: Body }>(app, 'POST', '/os-server-external-events', {
    policy: 'os_compute_api:os-server-external-events:create', schema: { body: Body },
  }, async (req, reply) => {
    checkNames(req, req.body.events);
    const answered: Array<Record<string, unknown>> = [];
    let accepted = 0;
    const refresh = new Set<string>();
    for (const e of req.body.events) {
      const out: Record<string, unknown> = { ...e, status: e.status ?? 'completed' };
      const row = await getInstanceRow(deps.db, e.server_uuid);
      if (!row) Object.assign(out, { code: 404, status: 'failed' });
      else if (row.host === null) Object.assign(out, { code: 422, status: 'failed' });
      else {
        out.code = 200;
        accepted++;
        if (deps.network && (e.name === 'network-changed' || e.name === 'network-vif-deleted')) refresh.add(row.uuid);
        else deps.log.info({ instance: row.uuid, event: e.name, tag: e.tag }, 'external event received; nothing waits for it');
      }
      answered.push(out);
    }
    if (accepted === 0) throw new NotFound('No instances found for any event');
    for (const uuid of refresh) void refreshLater(deps, uuid);
    reply.code(accepted === answered.length ? 200 : 207);
    return { events: answered };
  });
}
