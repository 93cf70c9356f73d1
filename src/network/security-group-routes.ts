import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { newUuid } from '../common/ids.js';
import { lockKey } from '../db/locks.js';
import {
  defaultGroupsAmong, deleteRuleRow, deleteSecurityGroupCascade, ensureDefaultGroup, getRuleRow, insertRule, insertSecurityGroup, isDefaultGroup,
  listVisibleRules, listVisibleSecurityGroups, rulesOfGroups, touchGroup, updateSecurityGroupRow, visibleSecurityGroup, type SecurityGroupRow,
} from '../db/network-security-groups.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import type { Db } from '../db/connection.js';
import {
  bit, bool, conflict, Description, IdParams, Name, notFound, nowIso, ProjectId, requestedProject, sgNotFound, standardAttrs, Tags, viewerOf, checkIfMatch,
} from './common.js';
import { fieldsOf, listAnswer, pickFields, type View } from './list-kit.js';
import type { NetworkAppOptions } from './options.js';
import { checkQuota } from './quota.js';
import { checkRule, RULE_ATTRIBUTES, ruleView, sameRule } from './security-group-rules.js';

/** /v2.0/security-groups and /v2.0/security-group-rules (Neutron's security-group extension). */

const GroupCreate = Type.Object({
  security_group: Type.Object({
    name: Type.Optional(Name), description: Type.Optional(Description), stateful: Type.Optional(Type.Boolean()),
    project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId), tags: Type.Optional(Tags),
  }, { additionalProperties: false }),
}, { additionalProperties: false });
const GroupUpdate = Type.Object({
  security_group: Type.Object({ name: Type.Optional(Name), description: Type.Optional(Description), stateful: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
}, { additionalProperties: false });
const Port = Type.Union([Type.Integer({ minimum: -1, maximum: 65535 }), Type.Null()]);
const RuleCreate = Type.Object({
  security_group_rule: Type.Object({
    security_group_id: Type.String({ minLength: 1, maxLength: 255 }),
    direction: Type.Union([Type.Literal('ingress'), Type.Literal('egress')]),
    ethertype: Type.Optional(Type.Union([Type.Literal('IPv4'), Type.Literal('IPv6')])),
    protocol: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 40 }), Type.Integer({ minimum: 0, maximum: 255 }), Type.Null()])),
    port_range_min: Type.Optional(Port), port_range_max: Type.Optional(Port),
    remote_ip_prefix: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 64 }), Type.Null()])),
    remote_group_id: Type.Optional(Type.Union([Type.String({ minLength: 1, maxLength: 255 }), Type.Null()])),
    description: Type.Optional(Description), project_id: Type.Optional(ProjectId), tenant_id: Type.Optional(ProjectId),
  }, { additionalProperties: false }),
}, { additionalProperties: false });

export const GROUP_ATTRIBUTES = [
  'id', 'name', 'tenant_id', 'project_id', 'stateful', 'shared', 'security_group_rules', 'description', 'tags', 'created_at', 'updated_at', 'revision_number',
] as const;

const defaultIds = defaultGroupsAmong;

async function groupViews(db: Db, rows: SecurityGroupRow[]): Promise<View[]> {
  const ids = rows.map((r) => r.id);
  const rules = await rulesOfGroups(db, ids);
  const defaults = await defaultGroupsAmong(db, ids);
  return rows.map((r) => ({
    id: r.id, name: r.name, tenant_id: r.project_id, project_id: r.project_id, stateful: bool(r.stateful), shared: false,
    security_group_rules: rules.filter((x) => x.security_group_id === r.id).map((x) => ruleView(x, defaults)),
    ...standardAttrs(r),
  }));
}

const ruleNotFound = (id: string) => notFound('SecurityGroupRuleNotFound', `Security group rule ${id} does not exist`);

export function registerSecurityGroupRoutes(app: FastifyInstance, opts: NetworkAppOptions): void {
  const { db, config } = opts;
  app.get('/v2.0/security-groups', { config: { policy: 'get_security_group' } }, async (req) => {
    // Neutron also makes the caller's default group when it lists groups; here a read never
    // writes (the route sweeps check it): the group is made with the project's first network,
    // port or group instead.
    return listAnswer(req, { collection: 'security_groups', attributes: GROUP_ATTRIBUTES }, await groupViews(db, await listVisibleSecurityGroups(db, viewerOf(req))));
  });

  app.get<{ Params: { id: string } }>('/v2.0/security-groups/:id', { config: { policy: 'get_security_group' }, schema: { params: IdParams } }, async (req) => {
    const row = await visibleSecurityGroup(db, viewerOf(req), req.params.id);
    if (!row) throw sgNotFound(req.params.id);
    return { security_group: pickFields((await groupViews(db, [row]))[0]!, fieldsOf(req)) };
  });

  app.post<{ Body: Static<typeof GroupCreate> }>('/v2.0/security-groups', {
    config: { policy: 'create_security_group' }, schema: { body: GroupCreate },
  }, async (req, reply) => {
    const b = req.body.security_group;
    const projectId = requestedProject(req, b);
    authorize(req, 'create_security_group', { project_id: projectId });
    if (b.name === 'default') throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
    const at = nowIso();
    const id = newUuid();
    // Neutron gives every new group egress to anywhere, v4 and v6.
    const egress = (ethertype: string) => ({
      id: newUuid(), security_group_id: id, project_id: projectId, direction: 'egress', ethertype, protocol: null, port_range_min: null,
      port_range_max: null, remote_ip_prefix: null, remote_group_id: null, description: '', revision_number: 0, created_at: at, updated_at: at,
    });
    await atomically(db, async (tx) => {
      await lockKey(tx, `quota:security_group:${projectId}`);
      await checkQuota(tx, config, projectId, 'security_group');
      // In the same transaction: a refused create leaves no default group behind either.
      await ensureDefaultGroup(tx, projectId, at);
      await insertSecurityGroup(tx, {
        id, project_id: projectId, name: b.name ?? '', description: b.description ?? '', stateful: bit(b.stateful ?? true),
        tags: JSON.stringify([...new Set(b.tags ?? [])]), revision_number: 1, created_at: at, updated_at: at,
      }, [egress('IPv4'), egress('IPv6')]);
    });
    reply.code(201);
    return { security_group: (await groupViews(db, [(await visibleSecurityGroup(db, { projectId, isAdmin: true }, id))!]))[0] };
  });

  app.put<{ Params: { id: string }; Body: Static<typeof GroupUpdate> }>('/v2.0/security-groups/:id', {
    config: { policy: 'update_security_group' }, schema: { params: IdParams, body: GroupUpdate },
  }, async (req) => {
    const b = req.body.security_group;
    const row = await visibleSecurityGroup(db, viewerOf(req), req.params.id);
    if (!row) throw sgNotFound(req.params.id);
    authorize(req, 'update_security_group', { project_id: row.project_id });
    checkIfMatch(req, row.revision_number);
    const isDefault = await isDefaultGroup(db, row.id);
    if (isDefault && b.name !== undefined && b.name !== 'default') {
      throw conflict('SecurityGroupCannotUpdateDefault', 'Updating default security group not allowed.');
    }
    if (!isDefault && b.name === 'default') throw conflict('SecurityGroupDefaultAlreadyExists', 'Default security group already exists.');
    await updateSecurityGroupRow(db, row.id, {
      ...(b.name !== undefined ? { name: b.name } : {}), ...(b.description !== undefined ? { description: b.description } : {}),
      ...(b.stateful !== undefined ? { stateful: bit(b.stateful) } : {}), updated_at: nowIso(),
    });
    return { security_group: (await groupViews(db, [(await visibleSecurityGroup(db, { projectId: null, isAdmin: true }, row.id))!]))[0] };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/security-groups/:id', {
    config: { policy: 'delete_security_group' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const row = await visibleSecurityGroup(db, viewerOf(req), req.params.id);
    if (!row) throw sgNotFound(req.params.id);
    authorize(req, 'delete_security_group', { project_id: row.project_id });
    checkIfMatch(req, row.revision_number);
    if (await isDefaultGroup(db, row.id)) {
      throw conflict('SecurityGroupCannotRemoveDefault', 'Insufficient rights for removing default security group.');
    }
    const r = await deleteSecurityGroupCascade(db, row.id);
    if (r === 'gone') throw sgNotFound(row.id);
    if (r === 'in-use') throw conflict('SecurityGroupInUse', `Security Group ${row.id} in use.`);
    reply.code(204);
  });

  // ---- rules

  app.get('/v2.0/security-group-rules', { config: { policy: 'get_security_group_rule' } }, async (req) => {
    const rows = await listVisibleRules(db, viewerOf(req));
    const defaults = await defaultIds(db, [...new Set(rows.map((r) => r.security_group_id))]);
    return listAnswer(req, { collection: 'security_group_rules', attributes: RULE_ATTRIBUTES }, rows.map((r) => ruleView(r, defaults)));
  });

  const visibleRule = async (req: FastifyRequest, id: string) => {
    const r = await getRuleRow(db, id);
    return r && (req.auth.isAdmin || r.project_id === req.auth.projectId) ? r : null;
  };

  app.get<{ Params: { id: string } }>('/v2.0/security-group-rules/:id', { config: { policy: 'get_security_group_rule' }, schema: { params: IdParams } }, async (req) => {
    const r = await visibleRule(req, req.params.id);
    if (!r) throw ruleNotFound(req.params.id);
    return { security_group_rule: pickFields(ruleView(r, await defaultIds(db, [r.security_group_id])), fieldsOf(req)) };
  });

  app.post<{ Body: Static<typeof RuleCreate> }>('/v2.0/security-group-rules', {
    config: { policy: 'create_security_group_rule' }, schema: { body: RuleCreate },
  }, async (req, reply) => {
    const b = req.body.security_group_rule;
    const group = await visibleSecurityGroup(db, viewerOf(req), b.security_group_id);
    if (!group) throw sgNotFound(b.security_group_id);
    const projectId = b.project_id !== undefined || b.tenant_id !== undefined ? requestedProject(req, b) : group.project_id;
    authorize(req, 'create_security_group_rule', { project_id: group.project_id });
    authorize(req, 'create_security_group_rule', { project_id: projectId });
    const rule = checkRule({ ...b, port_range_min: b.port_range_min === -1 ? null : b.port_range_min, port_range_max: b.port_range_max === -1 ? null : b.port_range_max });
    if (rule.remote_group_id !== null && !(await visibleSecurityGroup(db, viewerOf(req), rule.remote_group_id))) throw sgNotFound(rule.remote_group_id);
    const at = nowIso();
    const id = newUuid();
    await atomically(db, async (tx) => {
      // The duplicate check and the insert are one step per group.
      await lockKey(tx, `sg-rules:${group.id}`);
      const dup = (await rulesOfGroups(tx, [group.id])).find((x) => sameRule(rule, x));
      if (dup) throw conflict('SecurityGroupRuleExists', `Security group rule already exists. Rule id is ${dup.id}.`);
      await checkQuota(tx, config, projectId, 'security_group_rule');
      await insertRule(tx, { id, security_group_id: group.id, project_id: projectId, ...rule, description: b.description ?? '', revision_number: 0, created_at: at, updated_at: at });
      await touchGroup(tx, group.id, at);
    });
    reply.code(201);
    return { security_group_rule: ruleView((await getRuleRow(db, id))!, await defaultIds(db, [group.id])) };
  });

  app.delete<{ Params: { id: string } }>('/v2.0/security-group-rules/:id', {
    config: { policy: 'delete_security_group_rule' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const r = await visibleRule(req, req.params.id);
    if (!r) throw ruleNotFound(req.params.id);
    authorize(req, 'delete_security_group_rule', { project_id: r.project_id });
    await atomically(db, async (tx) => {
      if (!(await deleteRuleRow(tx, r.id))) throw ruleNotFound(r.id);
      await touchGroup(tx, r.security_group_id, nowIso());
    });
    reply.code(204);
  });
}
