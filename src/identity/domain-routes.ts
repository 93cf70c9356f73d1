import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import { BadRequest, Conflict, Forbidden } from '../common/errors.js';
import { newHexId } from '../common/ids.js';
import { now } from '../common/time.js';
import { DEFAULT_DOMAIN_ID } from '../db/identity.js';
import { deleteDomain, findDomainByName, insertDomain, listDomains, updateDomain, type DomainRow } from '../db/identity-domains.js';
import { atomically } from '../db/transactions.js';
import { domainOr404 } from './domains.js';
import { extraOf } from './extra.js';
import { applyStringFilters } from './list-filters.js';
import { queryBool, type IdentityAppOptions } from './options.js';
import { collection, domainView } from './views.js';

const Name = Type.String({ minLength: 1, maxLength: 64 });
const Fields = {
  description: Type.Optional(Type.Union([Type.String({ maxLength: 65535 }), Type.Null()])),
  enabled: Type.Optional(Type.Boolean()),
  // Keystone keeps tags and options (the immutable flag) on domains; not here yet: an empty value only.
  tags: Type.Optional(Type.Array(Type.String({ maxLength: 255 }), { maxItems: 0 })),
  options: Type.Optional(Type.Object({}, { additionalProperties: false })),
  explicit_domain_id: Type.Optional(Type.String({ minLength: 1, maxLength: 64, pattern: '^[A-Za-z0-9_-]+$' })),
};
const KNOWN = new Set(['name', 'description', 'enabled', 'tags', 'options', 'explicit_domain_id', 'id', 'links']);
const CreateBody = Type.Object({ domain: Type.Object({ name: Name, ...Fields }) });
const UpdateBody = Type.Object({ domain: Type.Object({ name: Type.Optional(Name), ...Fields }) });
const ListQuery = Type.Object({ name: Type.Optional(Type.String()), enabled: Type.Optional(Type.String()) }, { additionalProperties: true });
const IdParams = Type.Object({ domainId: Type.String() });

const duplicate = (name: string): Conflict => new Conflict(`Conflict occurred attempting to store domain - Duplicate entry found with name ${name}.`);

/**
 * Domains (Keystone's): create, list (name, enabled and the `name__*` filters), show, update,
 * disable, and delete — only a disabled domain may be deleted, and it takes everything in it
 * along. The Default domain cannot be deleted (it holds the bootstrap admin).
 */
export function registerDomainRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const { db, tokens } = opts;

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/domains', {
    config: { policy: 'identity:list_domains' }, schema: { querystring: ListQuery },
  }, async (req) => {
    const rows = await listDomains(db, { name: req.query.name, enabled: queryBool(req.query.enabled, 'enabled') });
    const filtered = applyStringFilters(rows, req.query, { name: (d: DomainRow) => d.name });
    return collection(req, 'domains', filtered.map((d) => domainView(req, d)));
  });

  // Anyone whose token lives in a domain may read it.
  app.get<{ Params: Static<typeof IdParams> }>('/v3/domains/:domainId', { config: { policy: 'identity:get_domain' }, schema: { params: IdParams } }, async (req) => {
    return { domain: domainView(req, await domainOr404(db, req.params.domainId)) };
  });

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/domains', { config: { policy: 'identity:create_domain' }, schema: { body: CreateBody } }, async (req, reply) => {
    const d = req.body.domain;
    const row: DomainRow = {
      id: d.explicit_domain_id ?? newHexId(), name: d.name, description: d.description ?? '',
      enabled: d.enabled === false ? 0 : 1, extra: extraOf(d, KNOWN), created_at: now().toISOString(),
    };
    await atomically(db, async (tx) => {
      if (await findDomainByName(tx, d.name)) throw duplicate(d.name);
      if (d.explicit_domain_id !== undefined && (await listDomains(tx, { ids: [row.id] })).length > 0) {
        throw new Conflict(`Conflict occurred attempting to store domain - Duplicate ID, ${row.id}.`);
      }
      await insertDomain(tx, row);
    });
    reply.code(201);
    return { domain: domainView(req, row) };
  });

  app.patch<{ Params: Static<typeof IdParams>; Body: Static<typeof UpdateBody> }>('/v3/domains/:domainId', {
    config: { policy: 'identity:update_domain' }, schema: { params: IdParams, body: UpdateBody },
  }, async (req) => {
    const d = req.body.domain;
    if (d.explicit_domain_id !== undefined) throw new BadRequest('The id of a domain cannot be changed.');
    const updated = await atomically(db, async (tx) => {
      const current = await domainOr404(tx, req.params.domainId);
      if (current.id === DEFAULT_DOMAIN_ID && d.enabled === false) throw new Forbidden('The Default domain cannot be disabled.');
      if (d.name !== undefined && d.name !== current.name && (await findDomainByName(tx, d.name))) throw duplicate(d.name);
      const changes: Partial<DomainRow> = { extra: extraOf(d, KNOWN, current.extra) };
      if (d.name !== undefined) changes.name = d.name;
      if (d.description !== undefined) changes.description = d.description ?? '';
      if (d.enabled !== undefined) changes.enabled = d.enabled ? 1 : 0;
      await updateDomain(tx, current.id, changes);
      return { ...current, ...changes };
    });
    if (updated.enabled === 0) {
      // Every token of the domain's users and projects stops working: the cache must not keep them.
      tokens.forget({ domainId: updated.id });
    }
    return { domain: domainView(req, updated) };
  });

  app.delete<{ Params: Static<typeof IdParams> }>('/v3/domains/:domainId', {
    config: { policy: 'identity:delete_domain' }, schema: { params: IdParams },
  }, async (req, reply) => {
    const current = await domainOr404(db, req.params.domainId);
    if (current.id === DEFAULT_DOMAIN_ID) throw new Forbidden('The Default domain cannot be deleted.');
    if (current.enabled === 1) throw new Forbidden('Cannot delete a domain that is enabled, please disable it first.');
    const gone = await deleteDomain(db, current.id);
    tokens.forget({ domainId: current.id });
    for (const userId of gone.userIds) tokens.forget({ userId });
    reply.code(204).send();
  });
}
