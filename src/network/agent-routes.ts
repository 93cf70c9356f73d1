import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { deleteAgent, getAgent, listAgents, updateAgent, upsertAgent, type AgentRow } from '../db/network-agents.js';
import { portsByIds, setPortStatus } from '../db/network-ports.js';
import { bit, bool, Description, IdParams, json, notFound, nowIso } from './common.js';
import { buildHostState } from './host-state.js';
import { fieldsOf, listAnswer, pickFields, type View } from './list-kit.js';
import { networkOpt, type NetworkAppOptions } from './options.js';

/**
 * /v2.0/agents (Neutron's agent extension, admin only) and POST /v2.0/agents/report, the agents'
 * heartbeat: it records the agent, marks the ports it wired ACTIVE (or DOWN) and answers the
 * host's desired state (host-state.ts).
 */

/** Most device ids one report may list (a host with more ports reports them over several polls). */
export const MAX_REPORTED_DEVICES = 4096;

const Report = Type.Object({
  agent: Type.Object({
    host: Type.String({ minLength: 1, maxLength: 255 }),
    agent_type: Type.String({ minLength: 1, maxLength: 64 }),
    binary: Type.String({ minLength: 1, maxLength: 255 }),
    availability_zone: Type.Optional(Type.Union([Type.String({ maxLength: 255 }), Type.Null()])),
    configurations: Type.Optional(Type.Record(Type.String({ maxLength: 255 }), Type.Unknown(), { maxProperties: 64 })),
    devices_up: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: MAX_REPORTED_DEVICES })),
    devices_down: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 255 }), { maxItems: MAX_REPORTED_DEVICES })),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
const Update = Type.Object({
  agent: Type.Object({ admin_state_up: Type.Optional(Type.Boolean()), description: Type.Optional(Description) }, { additionalProperties: false }),
}, { additionalProperties: false });

const AGENT_ATTRIBUTES = [
  'id', 'agent_type', 'binary', 'topic', 'host', 'admin_state_up', 'created_at', 'started_at', 'heartbeat_timestamp', 'description', 'alive',
  'configurations', 'availability_zone', 'resources_synced',
] as const;

/** Neutron's agent timestamps: `2017-09-12 19:39:56`. */
const agentTime = (iso: string): string => iso.slice(0, 19).replace('T', ' ');

export function registerAgentRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;
  const downSeconds = Number(networkOpt(config, 'agent_down_time'));
  const aliveSince = (): string => new Date(Date.now() - downSeconds * 1000).toISOString();
  const metadata = networkOpt(config, 'metadata_enabled') !== 'false';
  const view = (a: AgentRow, since: string): View => ({
    id: a.id, agent_type: a.agent_type, binary: a.binary, topic: a.topic, host: a.host, admin_state_up: bool(a.admin_state_up),
    created_at: agentTime(a.created_at), started_at: agentTime(a.started_at), heartbeat_timestamp: agentTime(a.heartbeat_at),
    description: a.description, alive: a.heartbeat_at >= since, configurations: json<Record<string, unknown>>(a.configurations),
    availability_zone: a.availability_zone, resources_synced: null,
  });
  const agentNotFound = (id: string) => notFound('AgentNotFound', `Agent ${id} could not be found.`);

  app.get('/v2.0/agents', { config: { policy: 'get_agent' } }, async (req) => {
    const since = aliveSince();
    return listAnswer(req, { collection: 'agents', attributes: AGENT_ATTRIBUTES }, (await listAgents(db)).map((a) => view(a, since)));
  });

  app.get<{ Params: { id: string } }>('/v2.0/agents/:id', { config: { policy: 'get_agent' }, schema: { params: IdParams } }, async (req) => {
    const a = await getAgent(db, req.params.id);
    if (!a) throw agentNotFound(req.params.id);
    return { agent: pickFields(view(a, aliveSince()), fieldsOf(req)) };
  });

  app.put<{ Params: { id: string }; Body: Static<typeof Update> }>('/v2.0/agents/:id', {
    config: { policy: 'update_agent' }, schema: { params: IdParams, body: Update },
  }, async (req) => {
    const b = req.body.agent;
    const ok = await updateAgent(db, req.params.id, {
      ...(b.admin_state_up !== undefined ? { admin_state_up: bit(b.admin_state_up) } : {}), ...(b.description !== undefined ? { description: b.description } : {}),
    });
    if (!ok) throw agentNotFound(req.params.id);
    return { agent: view((await getAgent(db, req.params.id))!, aliveSince()) };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/agents/:id', { config: { policy: 'delete_agent' }, schema: { params: IdParams } }, async (req, reply) => {
    if (!(await deleteAgent(db, req.params.id))) throw agentNotFound(req.params.id);
    reply.code(204);
  });

  app.post<{ Body: Static<typeof Report> }>('/v2.0/agents/report', { config: { policy: 'create_agent_report' }, schema: { body: Report } }, async (req) => {
    const a = req.body.agent;
    const at = nowIso();
    await upsertAgent(db, {
      host: a.host, agent_type: a.agent_type, binary: a.binary, availability_zone: a.availability_zone ?? null,
      configurations: JSON.stringify(a.configurations ?? {}), at,
    });
    const up = [...new Set(a.devices_up ?? [])];
    const down = [...new Set(a.devices_down ?? [])].filter((d) => !up.includes(d));
    const changed: Array<[string[], 'ACTIVE' | 'DOWN']> = [
      [await setPortStatus(db, a.host, up, 'ACTIVE', at), 'ACTIVE'], [await setPortStatus(db, a.host, down, 'DOWN', at), 'DOWN'],
    ];
    for (const [ids, status] of changed) for (const p of await portsByIds(db, ids)) opts.notifier?.portStatusChanged(p, status);
    return { host_state: await buildHostState(db, a.host, aliveSince(), metadata) };
  });
}
