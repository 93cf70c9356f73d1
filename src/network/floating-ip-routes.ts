import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import { DuplicateEntry } from '../db/connection.js';
import {
  deleteFloatingIpRow, getFloatingIpRow, insertFloatingIp, listFloatingIpRows, updateFloatingIpRow, type FloatingIpRow,
} from '../db/network-floating-ips.js';
import { visibleNetwork } from '../db/network-networks.js';
import { FLOATING_IP_OWNER } from '../db/network-routers.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import { conflict, Description, IdParams, nowIso, ProjectId, requestedProject, standardAttrs, Tags, viewerOf } from './common.js';
import { resolveAssociation, type Association } from './floating-ip-association.js';
import { fieldsOf, listAnswer, pickFields, type View } from './list-kit.js';
import type { NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';
import { badResource, floatingIpNotFound } from './router-common.js';
import { createServicePort, deleteServicePort, portNotifyFields } from './router-ports.js';

/**
 * /v2.0/floatingips: an address of an external network (held by a port with device_owner
 * network:floatingip, allocated by the IPAM) that the router between that network and a
 * port's subnet translates 1:1 to the port's fixed address. Status ACTIVE while associated,
 * DOWN otherwise. A server's port gaining or losing a floating IP is told to Nova.
 */

const CreateBody = Type.Object({
  floatingip: Type.Object({
    floating_network_id: Type.String({ maxLength: 255 }),
    floating_ip_address: Type.Optional(Type.String({ maxLength: 64 })),
    subnet_id: Type.Optional(Type.String({ maxLength: 255 })),
    port_id: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    fixed_ip_address: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    description: Type.Optional(Description), project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId),
    tags: Type.Optional(Tags),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type CreateBody = Static<typeof CreateBody>;

const UpdateBody = Type.Object({
  floatingip: Type.Object({
    port_id: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    fixed_ip_address: Type.Optional(Type.Union([Type.String({ maxLength: 64 }), Type.Null()])),
    description: Type.Optional(Description),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
type UpdateBody = Static<typeof UpdateBody>;

export const FLOATING_IP_ATTRIBUTES = [
  'id', 'tenant_id', 'project_id', 'floating_network_id', 'floating_ip_address', 'router_id', 'port_id', 'fixed_ip_address', 'status',
  'description', 'tags', 'created_at', 'updated_at', 'revision_number', 'qos_policy_id', 'port_forwardings',
] as const;

export function floatingIpView(row: FloatingIpRow): View {
  return {
    id: row.id, tenant_id: row.project_id, project_id: row.project_id, floating_network_id: row.floating_network_id,
    floating_ip_address: row.floating_ip_address, router_id: row.router_id, port_id: row.fixed_port_id, fixed_ip_address: row.fixed_ip_address,
    status: row.status, qos_policy_id: null, port_forwardings: [], ...standardAttrs(row),
  };
}

const alreadyAssociated = (fip: { id: string; floating_ip_address: string; floating_network_id: string }, a: Association) =>
  conflict('FloatingIPPortAlreadyAssociated',
    `Cannot associate floating IP ${fip.floating_ip_address} (${fip.id}) with port ${a.portId} using fixed IP ${a.fixedIp}, as that fixed IP already has a floating IP on external network ${fip.floating_network_id}.`);

export function registerFloatingIpRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;

  const visible = async (req: FastifyRequest, id: string, rule: string): Promise<FloatingIpRow> => {
    const row = await getFloatingIpRow(db, id);
    const v = viewerOf(req);
    if (!row || !(v.isAdmin || row.project_id === v.projectId)) throw floatingIpNotFound(id);
    authorize(req, rule, { project_id: row.project_id });
    return row;
  };
  const reread = async (id: string): Promise<FloatingIpRow> => {
    const row = await getFloatingIpRow(db, id);
    if (!row) throw floatingIpNotFound(id);
    return row;
  };
  /** Nova hears of the server ports whose floating IP changed. */
  const notify = async (portIds: Array<string | null>): Promise<void> => {
    if (!opts.notifier) return;
    for (const id of new Set(portIds.filter((p): p is string => p !== null))) {
      const p = await portNotifyFields(opts, id);
      if (p) opts.notifier.portChanged(p);
    }
  };

  app.get('/v2.0/floatingips', { config: { policy: 'get_floatingip' } }, async (req) => {
    const v = viewerOf(req);
    const rows = await listFloatingIpRows(db, v.isAdmin ? null : v.projectId ?? '');
    return listAnswer(req, { collection: 'floatingips', attributes: FLOATING_IP_ATTRIBUTES }, rows.map(floatingIpView));
  });

  app.get<{ Params: { id: string } }>('/v2.0/floatingips/:id', { config: { policy: 'get_floatingip' }, schema: { params: IdParams } }, async (req) => {
    return { floatingip: pickFields(floatingIpView(await visible(req, req.params.id, 'get_floatingip')), fieldsOf(req)) };
  });

  app.post<{ Body: CreateBody }>('/v2.0/floatingips', { config: { policy: 'create_floatingip' }, schema: { body: CreateBody } }, async (req, reply) => {
    const b = req.body.floatingip;
    const projectId = requestedProject(req, b);
    authorize(req, 'create_floatingip', { project_id: projectId });
    if (b.floating_ip_address !== undefined) authorize(req, 'create_floatingip:floating_ip_address', { project_id: projectId });
    const net = await visibleNetwork(db, viewerOf(req), b.floating_network_id);
    if (!net || net.router_external !== 1) throw badResource('floatingip', `Network ${b.floating_network_id} is not a valid external network`);
    const id = newUuid();
    // The association is checked before anything is made, so a refused one leaves nothing behind.
    const assoc = b.port_id ? await resolveAssociation(opts, req, net.id, b.port_id, b.fixed_ip_address ?? null) : null;
    await checkQuota(db, config, projectId, 'floatingip');
    const fixed = b.floating_ip_address !== undefined || b.subnet_id !== undefined
      ? [{ ...(b.subnet_id !== undefined ? { subnet_id: b.subnet_id } : {}), ...(b.floating_ip_address !== undefined ? { ip_address: b.floating_ip_address } : {}) }]
      : undefined;
    const port = await createServicePort(opts, {
      networkId: net.id, projectId: '', deviceId: id, deviceOwner: FLOATING_IP_OWNER, hostId: '', fixedIps: fixed, ipv4Only: true,
    });
    const address = port.fixed_ips[0]?.ip_address;
    try {
      if (!address) throw badResource('floatingip', `Network ${net.id} does not contain any IPv4 subnet`);
      const at = nowIso();
      await atomically(db, async (tx) => {
        await checkQuota(tx, config, projectId, 'floatingip');
        await insertFloatingIp(tx, {
          id, project_id: projectId, floating_network_id: net.id, floating_ip_address: address, floating_port_id: port.id,
          fixed_port_id: assoc?.portId ?? null, fixed_ip_address: assoc?.fixedIp ?? null, router_id: assoc?.routerId ?? null,
          status: assoc ? 'ACTIVE' : 'DOWN', description: b.description ?? '', tags: JSON.stringify([...new Set(b.tags ?? [])]),
          revision_number: 1, created_at: at, updated_at: at,
        });
      });
    } catch (err) {
      await deleteServicePort(opts, port.id);
      if (err instanceof DuplicateEntry && assoc) throw alreadyAssociated({ id, floating_ip_address: address!, floating_network_id: net.id }, assoc);
      throw err;
    }
    await notify([assoc?.portId ?? null]);
    reply.code(201);
    return { floatingip: floatingIpView(await reread(id)) };
  });

  app.put<{ Params: { id: string }; Body: UpdateBody }>('/v2.0/floatingips/:id', {
    config: { policy: 'update_floatingip' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const row = await visible(req, req.params.id, 'update_floatingip');
    const b = req.body.floatingip;
    const changes: Record<string, unknown> = {};
    if (b.description !== undefined) changes.description = b.description;
    let touched: Array<string | null> = [];
    if (b.port_id !== undefined) {
      if (b.port_id === null) {
        Object.assign(changes, { fixed_port_id: null, fixed_ip_address: null, router_id: null, status: 'DOWN' });
      } else {
        const a = await resolveAssociation(opts, req, row.floating_network_id, b.port_id, b.fixed_ip_address ?? null);
        Object.assign(changes, { fixed_port_id: a.portId, fixed_ip_address: a.fixedIp, router_id: a.routerId, status: 'ACTIVE' });
      }
      touched = [row.fixed_port_id, b.port_id];
    }
    try {
      if (!(await updateFloatingIpRow(db, row.id, { ...changes, updated_at: nowIso() }))) throw floatingIpNotFound(row.id);
    } catch (err) {
      if (err instanceof DuplicateEntry && b.port_id) {
        throw alreadyAssociated(row, { portId: b.port_id, fixedIp: String(changes.fixed_ip_address), routerId: '' });
      }
      throw err;
    }
    await notify(touched);
    return { floatingip: floatingIpView(await reread(row.id)) };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/floatingips/:id', {
    config: { policy: 'delete_floatingip' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const row = await visible(req, req.params.id, 'delete_floatingip');
    if (!(await deleteFloatingIpRow(db, row.id))) throw floatingIpNotFound(row.id);
    await deleteServicePort(opts, row.floating_port_id);
    await notify([row.fixed_port_id]);
    reply.code(204);
  });
}
