import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type, type Static } from '@sinclair/typebox';
import type { NeutronPort } from '../clients/network-client.js';
import { BadRequest, Conflict, NotFound, statusOf } from '../common/errors.js';
import { isUuidLike } from '../common/ids.js';
import { setNetworkInfo } from '../db/instance-network.js';
import type { InstanceRow } from '../db/instances.js';
import { VmState } from '../objects/states.js';
import { rpcContextOf } from '../httpkit/app.js';
import type { ComputeApiDeps } from './deps.js';
import { mvAtLeast } from './microversion.js';
import { routeBoth } from './resource-kit.js';
import { checkInstanceLock, findServer, instanceOf } from './server-common.js';
import { TagSchema } from './server-schemas.js';

/**
 * os-interface (Nova's attach_interfaces.py): a server's ports as the Network API has them,
 * listed and shown with the user's token; attach by `port_id` (the user's port, bound) or
 * `net_id` [+ `fixed_ips`] (a port made for the server, deleted at detach), through the compute
 * RPC (1.4) and the driver's interfaceAttach (409 without it). Without a Network API the server
 * has no interface: lists are empty, attach is refused as Nova refuses a cloud with no network.
 */

const AttachBody = Type.Object({
  interfaceAttachment: Type.Optional(Type.Object({
    net_id: Type.Optional(Type.String({ format: 'uuid' })),
    port_id: Type.Optional(Type.String({ format: 'uuid' })),
    fixed_ips: Type.Optional(Type.Array(Type.Object({ ip_address: Type.String({ anyOf: [{ format: 'ipv4' }, { format: 'ipv6' }] }) }, { additionalProperties: false }), { minItems: 1, maxItems: 1 })),
    tag: Type.Optional(TagSchema),
  }, { additionalProperties: false })),
}, { additionalProperties: false });
type AttachBody = Static<typeof AttachBody>;

/** The states Nova lets an interface be attached or detached in. */
const ATTACH_STATES = new Set<string>([VmState.ACTIVE, VmState.PAUSED, VmState.STOPPED]);

function view(req: FastifyRequest, p: NeutronPort): Record<string, unknown> {
  const out: Record<string, unknown> = {
    net_id: p.network_id, port_id: p.id, mac_addr: p.mac_address, port_state: p.status,
    fixed_ips: p.fixed_ips.map((f) => ({ subnet_id: f.subnet_id, ip_address: f.ip_address })),
  };
  if (mvAtLeast(req, '2.70')) out.tag = null;
  return out;
}

function checkState(row: InstanceRow, action: string): void {
  if (!ATTACH_STATES.has(row.vm_state) || row.task_state !== null) {
    throw new Conflict(`Cannot '${action}' instance ${row.uuid} while it is in ${row.task_state !== null ? `task_state ${row.task_state}` : `vm_state ${row.vm_state}`}`);
  }
}

/** The port as the user sees it, 404 (Nova's words) when it is not one of this server's. */
async function portOfServer(deps: ComputeApiDeps, req: FastifyRequest, row: InstanceRow, portId: string): Promise<NeutronPort> {
  const missing = new NotFound(`Instance ${row.uuid} does not have a port with id ${portId}`);
  if (!deps.network || !isUuidLike(portId)) throw missing;
  const port = await deps.network.getPort(portId, req.auth.tokenId).catch((err: unknown) => (statusOf(err) === 404 ? null : Promise.reject(err)));
  if (!port || port.device_id !== row.uuid) throw missing;
  return port;
}

export function register(app: FastifyInstance, deps: ComputeApiDeps): void {
  type P = { Params: { server_id: string } };
  type PP = { Params: { server_id: string; port_id: string } };

  routeBoth<P>(app, 'GET', '/servers/:server_id/os-interface', { policy: 'os_compute_api:os-attach-interfaces:list' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    if (!deps.network) return { interfaceAttachments: [] };
    const ports = await deps.network.listPorts({ device_id: row.uuid, limit: '64' }, req.auth.tokenId);
    return { interfaceAttachments: ports.map((p) => view(req, p)) };
  });

  routeBoth<PP>(app, 'GET', '/servers/:server_id/os-interface/:port_id', { policy: 'os_compute_api:os-attach-interfaces:show' }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    return { interfaceAttachment: view(req, await portOfServer(deps, req, row, req.params.port_id)) };
  });

  routeBoth<P & { Body: AttachBody }>(app, 'POST', '/servers/:server_id/os-interface', {
    policy: 'os_compute_api:os-attach-interfaces:create', schema: { body: AttachBody },
  }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    const a = req.body.interfaceAttachment ?? {};
    if (a.tag !== undefined && !mvAtLeast(req, '2.49')) throw new BadRequest("Invalid input for field/attribute interfaceAttachment. Additional properties are not allowed ('tag' was unexpected)");
    if (a.net_id && a.port_id) throw new BadRequest('Must not input both network_id and port_id');
    if (a.fixed_ips && !a.net_id) throw new BadRequest('Must input network_id when request IP address');
    checkInstanceLock(req, row);
    checkState(row, 'attach_interface');
    if (!deps.network || row.node === null) throw new Conflict('Network driver does not support this function.');
    const client = deps.network;
    const token = req.auth.tokenId;
    const owner = { device_id: row.uuid, device_owner: `compute:${row.availability_zone ?? 'nova'}` };
    let portId: string;
    let created = false;
    if (a.port_id) {
      const port = await client.getPort(a.port_id, token).catch((err: unknown) => {
        throw statusOf(err) === 404 ? new NotFound(`Port ${a.port_id} could not be found.`) : err;
      });
      if (port.device_id !== '') throw new Conflict(`Port ${port.id} is still in use.`);
      portId = (await client.updatePort(port.id, owner, token)).id;
    } else {
      let netId = a.net_id;
      if (!netId) {
        const nets = (await client.listNetworks({ project_id: row.project_id }, token)).filter((n) => n['router:external'] !== true);
        if (nets.length !== 1) throw new Conflict('Multiple possible networks found, use a Network ID to be more specific.');
        netId = nets[0]!.id;
      }
      await client.getNetwork(netId, token).catch((err: unknown) => {
        throw statusOf(err) === 404 ? new NotFound(`Network ${netId} could not be found.`) : err;
      });
      const body: Record<string, unknown> = { network_id: netId, ...owner };
      if (a.fixed_ips) body.fixed_ips = a.fixed_ips;
      portId = (await client.createPort(body, token)).id;
      created = true;
    }
    try {
      const cache = await deps.compute.attachInterface(rpcContextOf(req), await instanceOf(deps.db, row), portId, created);
      await setNetworkInfo(deps.db, row.uuid, cache);
    } catch (err) {
      // Nothing half-made: the port made for the attach goes, the user's is released.
      if (created) await client.deletePort(portId).catch(() => undefined);
      else await client.updatePort(portId, { device_id: '', device_owner: '', 'binding:host_id': '' }).catch(() => undefined);
      throw err;
    }
    return { interfaceAttachment: view(req, await client.getPort(portId, token)) };
  });

  routeBoth<PP>(app, 'DELETE', '/servers/:server_id/os-interface/:port_id', {
    policy: 'os_compute_api:os-attach-interfaces:delete', status: 202,
  }, async (req) => {
    const row = await findServer(deps.db, req, req.params.server_id);
    checkInstanceLock(req, row);
    await portOfServer(deps, req, row, req.params.port_id);
    checkState(row, 'detach_interface');
    if (row.node === null) throw new Conflict('Network driver does not support this function.');
    const cache = await deps.compute.detachInterface(rpcContextOf(req), await instanceOf(deps.db, row), req.params.port_id);
    await setNetworkInfo(deps.db, row.uuid, cache);
    return undefined;
  });
}
