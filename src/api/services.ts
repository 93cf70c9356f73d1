import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import { BadRequest, NotFound } from '../common/errors.js';
import type { Config } from '../common/config.js';
import { isoMicros } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { servicesWithZones, type ZonedService } from '../db/aggregates.js';
import { changeService, deleteService, getServiceByUuid, type ServiceChanges, type ServiceRef } from '../db/service-admin.js';
import { serviceIsUp } from '../db/services.js';
import { BooleanSchema, HostSchema, mvAtLeast, queryParam, routeBoth, signedIntegerId, toBool } from './resource-kit.js';
import type { ComputeApiDeps } from './deps.js';

/** The os-services API (admin only): list services, enable/disable/force down compute services, delete. */

function view(req: FastifyRequest, s: ZonedService, config: Config, at: number): Record<string, unknown> {
  const out: Record<string, unknown> = {
    binary: s.binary,
    host: s.host,
    // 2.53: services are known by their uuid.
    id: mvAtLeast(req, '2.53') ? s.uuid : s.id,
    zone: s.zone,
    status: s.disabled === 1 ? 'disabled' : 'enabled',
    state: serviceIsUp(s, config, at) ? 'up' : 'down',
    updated_at: isoMicros(s.updated_at),
    disabled_reason: s.disabled_reason,
  };
  if (mvAtLeast(req, '2.11')) out.forced_down = s.forced_down === 1;
  return out;
}

const UpdateBody = Type.Object({
  host: HostSchema,
  binary: Type.String({ minLength: 1, maxLength: 255 }),
  disabled_reason: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  forced_down: Type.Optional(BooleanSchema),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

/** 2.53: PUT /os-services/{service_uuid} says what to change. */
const UpdateBody253 = Type.Object({
  status: Type.Optional(Type.Union([Type.Literal('enabled'), Type.Literal('disabled')])),
  disabled_reason: Type.Optional(Type.String({ minLength: 1, maxLength: 255 })),
  forced_down: Type.Optional(BooleanSchema),
}, { additionalProperties: false });
type UpdateBody253 = Static<typeof UpdateBody253>;

const UUID_RE = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A live service by uuid (2.53), or 404. */
async function serviceByUuid(db: Db, raw: string): Promise<ServiceRef> {
  if (!UUID_RE.test(raw)) throw new BadRequest(`Invalid uuid ${raw}`);
  const svc = await getServiceByUuid(db, raw.toLowerCase());
  if (!svc) throw new NotFound(`Service with ID ${raw} could not be found.`);
  return svc;
}

/** The 2.53 update: status, reason and forced_down of a compute service; answers the whole service. */
async function update253(db: Db, config: Config, req: FastifyRequest, uuid: string, body: UpdateBody253): Promise<unknown> {
  if (body.status === undefined && body.forced_down === undefined) {
    throw new BadRequest("No updates were requested. At least one of 'status' or 'forced_down' must be specified.");
  }
  if (body.disabled_reason !== undefined && body.status !== 'disabled') {
    throw new BadRequest("Specifying 'disabled_reason' with status 'enabled' is invalid.");
  }
  const svc = await serviceByUuid(db, uuid);
  if (svc.binary !== 'nova-compute') {
    throw new BadRequest(`Updating a ${svc.binary} service is not supported. Only nova-compute services can be updated.`);
  }
  const changes: ServiceChanges = {};
  if (body.status !== undefined) {
    changes.disabled = body.status === 'disabled' ? 1 : 0;
    changes.disabled_reason = body.status === 'disabled' ? body.disabled_reason ?? null : null;
  }
  if (body.forced_down !== undefined) changes.forced_down = toBool(body.forced_down) ? 1 : 0;
  await updateService(db, svc.host, svc.binary, changes);
  const updated = (await servicesWithZones(db, config)).find((s) => s.id === svc.id);
  if (!updated) throw new NotFound(`Service with ID ${uuid} could not be found.`);
  return { service: view(req, updated, config, Date.now()) };
}

/** Only compute services can be updated (Nova refuses the others since Stein). */
async function updateService(db: Db, host: string, binary: string, changes: ServiceChanges): Promise<void> {
  if (!(await changeService(db, host, binary, changes))) throw new NotFound(`Service ${binary} on host ${host} could not be found.`);
}

export function register(app: FastifyInstance, deps: Pick<ComputeApiDeps, 'db' | 'config'>): void {
  const { db, config } = deps;

  routeBoth(app, 'GET', '/os-services', { policy: 'os_compute_api:os-services:list' }, async (req) => {
    const host = queryParam(req, 'host');
    const binary = queryParam(req, 'binary');
    const at = Date.now();
    const services = (await servicesWithZones(db, config))
      .filter((s) => (!host || s.host === host) && (!binary || s.binary === binary));
    return { services: services.map((s) => view(req, s, config, at)) };
  });

  // Before 2.53 the action is the last path segment: enable, disable, disable-log-reason, force-down (2.11).
  // From 2.53 the last segment is the service's uuid and the body says what to change.
  routeBoth<{ Params: { action: string }; Body: UpdateBody | UpdateBody253 }>(
    app, 'PUT', '/os-services/:action', { policy: 'os_compute_api:os-services:update', schema: { body: Type.Union([UpdateBody, UpdateBody253]) } }, async (req) => {
      const { action } = req.params;
      const v253 = mvAtLeast(req, '2.53');
      // The union schema let either body through: each microversion takes only its own.
      const allowed = Object.keys((v253 ? UpdateBody253 : UpdateBody).properties);
      const unexpected = Object.keys(req.body ?? {}).find((k) => !allowed.includes(k));
      if (unexpected !== undefined) throw new BadRequest(`Additional properties are not allowed ('${unexpected}' was unexpected)`);
      if (!v253 && !('host' in req.body && 'binary' in req.body)) throw new BadRequest("'host' and 'binary' are required properties");
      if (v253) return update253(db, config, req, action, req.body as UpdateBody253);
      const body = req.body as UpdateBody;
      const { host, binary } = body;
      const known = ['enable', 'disable', 'disable-log-reason', ...(mvAtLeast(req, '2.11') ? ['force-down'] : [])];
      if (!known.includes(action)) throw new NotFound('Unknown action');
      if (body.forced_down !== undefined && !mvAtLeast(req, '2.11')) {
        throw new BadRequest("Additional properties are not allowed ('forced_down' was unexpected)");
      }
      if (binary !== 'nova-compute') {
        throw new BadRequest(`Updating a ${binary} service is not supported. Only nova-compute services can be updated.`);
      }
      switch (action) {
        case 'enable':
          await updateService(db, host, binary, { disabled: 0, disabled_reason: null });
          return { service: { host, binary, status: 'enabled' } };
        case 'disable':
          await updateService(db, host, binary, { disabled: 1, disabled_reason: null });
          return { service: { host, binary, status: 'disabled' } };
        case 'disable-log-reason': {
          const reason = body.disabled_reason;
          if (reason === undefined) throw new BadRequest('Missing disabled reason field');
          await updateService(db, host, binary, { disabled: 1, disabled_reason: reason });
          return { service: { host, binary, status: 'disabled', disabled_reason: reason } };
        }
        default: {
          if (body.forced_down === undefined) throw new BadRequest('Missing forced_down field');
          const forced = toBool(body.forced_down);
          await updateService(db, host, binary, { forced_down: forced ? 1 : 0 });
          return { service: { host, binary, forced_down: forced } };
        }
      }
    },
  );

  routeBoth<{ Params: { id: string } }>(app, 'DELETE', '/os-services/:id', { policy: 'os_compute_api:os-services:delete', status: 204 }, async (req) => {
    if (mvAtLeast(req, '2.53')) {
      await deleteService(db, (await serviceByUuid(db, req.params.id)).id);
      return undefined;
    }
    // Nova validates an integer and looks it up: a negative one is simply not found.
    const id = signedIntegerId(req.params.id);
    if (id === null) throw new BadRequest(`Invalid input for field/attribute id. Value: ${req.params.id}. id must be an integer`);
    await deleteService(db, id);
    return undefined;
  });
}
