import type { FastifyRequest } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import { auditIdOf } from '../auth/tokens.js';
import { isoKeystone } from '../common/time.js';
import { DEFAULT_DOMAIN_ID, DEFAULT_DOMAIN_NAME, type ProjectRow, type RoleRow, type UserRow } from '../db/identity.js';
import { requestBaseUrl } from '../httpkit/app.js';
import type { CatalogService } from './catalog.js';
import type { DomainRow, GroupRow } from '../db/identity-domains.js';
import { extraFields } from './extra.js';

/** Keystone's JSON renderings of identity entities, with their `links`. */

export const v3Url = (req: FastifyRequest, path: string): string => `${requestBaseUrl(req)}/v3${path}`;

/** A domain's name when the caller has no row at hand (the Default domain's is fixed). */
export function domainName(domainId: string, names?: ReadonlyMap<string, string>): string {
  return names?.get(domainId) ?? (domainId === DEFAULT_DOMAIN_ID ? DEFAULT_DOMAIN_NAME : domainId);
}

export function domainRef(domainId: string, names?: ReadonlyMap<string, string>): { id: string; name: string } {
  return { id: domainId, name: domainName(domainId, names) };
}

export function domainView(req: FastifyRequest, d: DomainRow): Record<string, unknown> {
  return {
    ...extraFields(d.extra),
    id: d.id,
    name: d.name,
    description: d.description,
    enabled: d.enabled === 1,
    tags: [],
    options: {},
    links: { self: v3Url(req, `/domains/${d.id}`) },
  };
}

export function groupView(req: FastifyRequest, g: GroupRow): Record<string, unknown> {
  return { id: g.id, name: g.name, domain_id: g.domain_id, description: g.description, links: { self: v3Url(req, `/groups/${g.id}`) } };
}

export function projectView(req: FastifyRequest, p: ProjectRow, tags: string[] = []): Record<string, unknown> {
  return {
    ...extraFields(p.extra ?? '{}'),
    id: p.id,
    name: p.name,
    domain_id: p.domain_id,
    description: p.description,
    enabled: p.enabled === 1,
    is_domain: p.is_domain === 1,
    parent_id: p.parent_id ?? p.domain_id,
    tags,
    options: {},
    links: { self: v3Url(req, `/projects/${p.id}`) },
  };
}

/** Users never show their password; optional attributes appear only when set, as in Keystone. */
export function userView(req: FastifyRequest, u: UserRow): Record<string, unknown> {
  const out: Record<string, unknown> = {
    ...extraFields(u.extra ?? '{}'),
    id: u.id,
    name: u.name,
    domain_id: u.domain_id,
    enabled: u.enabled === 1,
    password_expires_at: null,
    options: extraFields(u.options ?? '{}'),
    links: { self: v3Url(req, `/users/${u.id}`) },
  };
  if (u.default_project_id !== null) out.default_project_id = u.default_project_id;
  if (u.email !== null) out.email = u.email;
  if (u.description !== null) out.description = u.description;
  return out;
}

export function roleView(req: FastifyRequest, r: RoleRow): Record<string, unknown> {
  return {
    id: r.id,
    name: r.name,
    domain_id: r.domain_id,
    description: (r as { description?: string | null }).description ?? null,
    options: {},
    links: { self: v3Url(req, `/roles/${r.id}`) },
  };
}

/** A collection with Keystone's pagination links (we never paginate identity lists). */
export function collection(req: FastifyRequest, key: string, items: unknown[]): Record<string, unknown> {
  return { [key]: items, links: { self: `${requestBaseUrl(req)}${req.url}`, previous: null, next: null } };
}

/** The body of an issued or validated token. Unscoped tokens carry no project, roles or catalog. */
export function tokenBody(ctx: AuthContext, catalog: CatalogService[] | null): { token: Record<string, unknown> } {
  const cred = ctx.applicationCredential;
  const token: Record<string, unknown> = {
    methods: [cred ? 'application_credential' : 'password'],
    user: {
      domain: { id: ctx.userDomainId, name: ctx.userDomainName ?? domainName(ctx.userDomainId) },
      id: ctx.userId,
      name: ctx.userName,
      password_expires_at: null,
    },
    audit_ids: [auditIdOf(ctx.tokenId)],
    expires_at: isoKeystone(ctx.expiresAt),
    issued_at: isoKeystone(ctx.issuedAt),
  };
  if (ctx.projectId !== null) {
    token.project = { domain: { id: ctx.projectDomainId ?? DEFAULT_DOMAIN_ID, name: ctx.projectDomainName ?? domainName(ctx.projectDomainId ?? DEFAULT_DOMAIN_ID) }, id: ctx.projectId, name: ctx.projectName };
    token.is_domain = false;
    token.roles = ctx.roles.map((r) => ({ id: r.id, name: r.name }));
    if (catalog !== null) token.catalog = catalog;
  } else if (ctx.domainId) {
    token.domain = { id: ctx.domainId, name: ctx.domainName ?? ctx.domainId };
    token.roles = ctx.roles.map((r) => ({ id: r.id, name: r.name }));
    if (catalog !== null) token.catalog = catalog;
  }
  if (cred) {
    token.application_credential = {
      id: cred.id, name: cred.name, restricted: !cred.unrestricted,
      ...(cred.accessRules !== null ? { access_rules: cred.accessRules } : {}),
    };
  }
  return { token };
}
