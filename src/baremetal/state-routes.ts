import type { FastifyInstance, FastifyRequest } from 'fastify';
import { requestBaseUrl, rpcContextOf } from '../httpkit/app.js';
import { BadRequest, Conflict, OrreryError } from '../common/errors.js';
import { isReserved, updateNode, updateNodeIf, type BmNodeRow } from '../db/baremetal-nodes.js';
import type { BaremetalAppOptions } from './options.js';
import { nodeLocked, nodeOf } from './node-routes.js';
import {
  API_VERBS, BOOT_DEVICES, isImmediate, POWER_TARGETS, PowerStates, STABLE_STATES, startOf, UNSUPPORTED_VERBS,
  type PowerTarget,
} from './states.js';
import { statesView } from './views.js';

/**
 * A node's states, power, provisioning, maintenance and boot device. The API checks the request
 * against Ironic's rules, records the target (a compare-and-set, so of two racing requests one
 * wins and the other gets a 409) and casts to the conductors; the worker does the rest, and
 * GET …/states shows where it got to. Answers are 202, as Ironic's.
 */

const NOT_ACCEPTABLE = (what: string, minor: number): OrreryError =>
  new OrreryError(406, 'notAcceptable', `${what} is not supported by the requested API version 1.${minor}.`);

const invalidState = (action: string, n: BmNodeRow): BadRequest =>
  new BadRequest(`The requested action "${action}" can not be performed on node "${n.uuid}" while it is in state "${n.provision_state}".`);

/** Verbs by the microversion that added them (Ironic's states API). */
const VERB_SINCE: Readonly<Record<string, number>> = { manage: 4, provide: 4, clean: 15, undeploy: 1, active: 1, deleted: 1 };

export function registerStateRoutes(app: FastifyInstance, opts: BaremetalAppOptions): void {
  const { db, conductor } = opts;

  /** Casts, and on a failed cast puts back what the request set (nothing half-started). */
  const castOr = async (req: FastifyRequest, n: BmNodeRow, undo: Partial<BmNodeRow>, send: () => Promise<void>): Promise<void> => {
    try {
      await send();
    } catch (err) {
      req.log.warn({ err, node: n.uuid }, 'bare metal cast failed; the node is left as it was');
      await updateNode(db, n.uuid, undo);
      throw err;
    }
  };

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/states', { config: { policy: 'baremetal:node:get_states' } }, async (req) =>
    statesView(await nodeOf(opts, req.params.node), req.ironicMinor));

  app.put<{ Params: { node: string }; Body: { target: string; timeout?: number } }>('/v1/nodes/:node/states/power', {
    schema: {
      body: {
        type: 'object', required: ['target'], additionalProperties: false,
        properties: { target: { type: 'string', maxLength: 32 }, timeout: { type: 'integer', minimum: 1, maximum: 86400 } },
      },
    },
    config: { policy: 'baremetal:node:set_power_state' },
  }, async (req, reply) => {
    const { target, timeout } = req.body;
    const minor = req.ironicMinor;
    if (!POWER_TARGETS.has(target)) throw new BadRequest(`Invalid input for field/attribute target. Value: '${target}'. Value should be one of: ${[...POWER_TARGETS].join(', ')}`);
    if ((target === PowerStates.SOFT_OFF || target === PowerStates.SOFT_REBOOT) && minor < 27) throw NOT_ACCEPTABLE(`Power target "${target}"`, minor);
    if (timeout !== undefined && minor < 27) throw NOT_ACCEPTABLE('The timeout of a power change', minor);
    const n = await nodeOf(opts, req.params.node);
    if (isReserved(n) || !STABLE_STATES.has(n.provision_state)) throw nodeLocked(n);
    const ok = await updateNodeIf(db, n.uuid, { target_power_state: null, provision_state: n.provision_state }, { target_power_state: target, last_error: null });
    if (!ok) throw new Conflict(`Node ${n.uuid} is already being powered to "${n.target_power_state}", please retry after it is done.`);
    await castOr(req, n, { target_power_state: null }, () => conductor.changePowerState(rpcContextOf(req), n.uuid, target as PowerTarget));
    reply.code(202).header('location', `${requestBaseUrl(req)}/v1/nodes/${n.uuid}/states`);
    return null;
  });

  app.put<{ Params: { node: string }; Body: { target: string; clean_steps?: unknown[]; configdrive?: unknown } }>('/v1/nodes/:node/states/provision', {
    schema: {
      body: {
        type: 'object', required: ['target'], additionalProperties: false,
        properties: {
          target: { type: 'string', maxLength: 32 }, clean_steps: { type: 'array', maxItems: 100 },
          configdrive: { anyOf: [{ type: 'string' }, { type: 'object' }] }, deploy_steps: { type: 'array', maxItems: 100 },
          disable_ramdisk: { type: 'boolean' }, rescue_password: { type: 'string', maxLength: 255 },
        },
      },
    },
    config: { policy: 'baremetal:node:set_provision_state' },
  }, async (req, reply) => {
    const { target } = req.body;
    const minor = req.ironicMinor;
    if (UNSUPPORTED_VERBS.has(target)) throw new BadRequest(`The requested action "${target}" is not supported by this Bare Metal service.`);
    const action = API_VERBS.get(target);
    if (!action) throw new BadRequest(`Invalid input for field/attribute target. Value: '${target}'.`);
    if ((VERB_SINCE[target] ?? 1) > minor) throw NOT_ACCEPTABLE(`Provision action "${target}"`, minor);
    if (action === 'clean' && req.body.clean_steps === undefined) throw new BadRequest('"clean_steps" is required when setting target provision state to clean');
    if (req.body.configdrive !== undefined) throw new BadRequest('A configdrive is not supported by this Bare Metal service.');
    const n = await nodeOf(opts, req.params.node);
    if (isReserved(n)) throw nodeLocked(n);
    const start = startOf(n.provision_state, action);
    if (!start) throw invalidState(target, n);
    if (n.maintenance === 1 && action === 'deploy') {
      throw new BadRequest(`The provisioning operation can't be performed on node ${n.uuid} because it's in maintenance mode.`);
    }
    if (action === 'deploy' && n.driver === 'ipmi' && !Object.hasOwn(JSON.parse(n.instance_info) as object, 'image_source')) {
      throw new BadRequest(`Node ${n.uuid} failed to validate deploy image info. Some parameters were missing. Missing are: ['instance_info.image_source']`);
    }
    const now = new Date().toISOString();
    const immediate = isImmediate(start);
    const moved = await updateNodeIf(db, n.uuid, { provision_state: n.provision_state, target_provision_state: n.target_provision_state }, {
      provision_state: start.to, target_provision_state: immediate ? null : start.target, provision_updated_at: now, last_error: null,
    });
    if (!moved) throw new Conflict(`Node ${n.uuid} changed state while the request was checked, please retry.`);
    if (!immediate) {
      await castOr(req, n, { provision_state: n.provision_state, target_provision_state: n.target_provision_state, provision_updated_at: n.provision_updated_at },
        () => conductor.doProvisioningAction(rpcContextOf(req), n.uuid, action));
    }
    reply.code(202).header('location', `${requestBaseUrl(req)}/v1/nodes/${n.uuid}/states`);
    return null;
  });

  const maintenance = (on: boolean) => async (req: FastifyRequest<{ Params: { node: string }; Body?: { reason?: string } }>, reply: { code(n: number): unknown }) => {
    const n = await nodeOf(opts, req.params.node);
    await updateNode(db, n.uuid, on ? { maintenance: 1, maintenance_reason: req.body?.reason ?? null } : { maintenance: 0, maintenance_reason: null });
    reply.code(202);
    return null;
  };
  app.put('/v1/nodes/:node/maintenance', {
    schema: { body: { type: 'object', additionalProperties: false, properties: { reason: { type: 'string', maxLength: 255 } } } },
    config: { policy: 'baremetal:node:set_maintenance' },
  }, maintenance(true));
  app.delete('/v1/nodes/:node/maintenance', { config: { policy: 'baremetal:node:clear_maintenance' } }, maintenance(false));

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/management/boot_device', { config: { policy: 'baremetal:node:get_boot_device' } }, async (req) => {
    const n = await nodeOf(opts, req.params.node);
    return { boot_device: n.boot_device, persistent: n.boot_device === null ? null : n.boot_device_persistent === 1 };
  });
  app.get<{ Params: { node: string } }>('/v1/nodes/:node/management/boot_device/supported', { config: { policy: 'baremetal:node:get_boot_device' } }, async (req) => {
    await nodeOf(opts, req.params.node);
    return { supported_boot_devices: BOOT_DEVICES };
  });
  app.put<{ Params: { node: string }; Body: { boot_device: string; persistent?: boolean } }>('/v1/nodes/:node/management/boot_device', {
    schema: {
      body: {
        type: 'object', required: ['boot_device'], additionalProperties: false,
        properties: { boot_device: { type: 'string', maxLength: 16 }, persistent: { type: 'boolean' } },
      },
    },
    config: { policy: 'baremetal:node:set_boot_device' },
  }, async (req, reply) => {
    const { boot_device: device, persistent = false } = req.body;
    if (!BOOT_DEVICES.includes(device)) throw new BadRequest(`Invalid boot device ${device}, valid devices are: ${BOOT_DEVICES.join(', ')}.`);
    const n = await nodeOf(opts, req.params.node);
    if (isReserved(n) || !STABLE_STATES.has(n.provision_state)) throw nodeLocked(n);
    await conductor.setBootDevice(rpcContextOf(req), n.uuid, device as 'pxe' | 'disk', persistent);
    // Accepted, not done: the worker sets it through the BMC and records it (GET shows it then).
    reply.code(202);
    return null;
  });

  app.get<{ Params: { node: string } }>('/v1/nodes/:node/validate', { config: { policy: 'baremetal:node:validate' } }, async (req) => {
    const n = await nodeOf(opts, req.params.node);
    const info = JSON.parse(n.driver_info) as Record<string, unknown>;
    const power = n.driver === 'fake-hardware' || (typeof info.ipmi_address === 'string' && info.ipmi_address !== '')
      ? { result: true } : { result: false, reason: 'Missing the following IPMI credentials in node\'s driver_info: ipmi_address.' };
    const image = n.driver === 'fake-hardware' || Object.hasOwn(JSON.parse(n.instance_info) as object, 'image_source')
      ? { result: true } : { result: false, reason: "Some parameters were missing. Missing are: ['instance_info.image_source']" };
    const no = { result: null, reason: 'not supported' };
    return { boot: image, console: no, deploy: image, inspect: no, management: power, network: { result: true }, power, raid: no, rescue: no, storage: { result: true } };
  });
}
