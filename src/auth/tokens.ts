import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../common/config.js';
import { Unauthorized } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  getProject, getToken, getUser, insertToken, listImpliedRoles, listRoles, purgeExpiredTokens, revokeToken, revokeTokens,
} from '../db/identity.js';
import { getAppCred } from '../db/identity-app-creds.js';
import { getDomain } from '../db/identity-domains.js';
import { effectiveRolesOnDomain, effectiveRolesOnProject } from '../db/identity-grants.js';
import type { AccessRule } from './access-rules.js';
import type { AuthContext, TokenValidator } from './context.js';

/** What else a token is scoped to or issued by, beyond its user and project. */
export interface TokenScope {
  /** A domain-scoped token (projectId null). */
  domainId?: string | null;
  /** The application credential that issued it: checked again at every validation. */
  appCredId?: string | null;
}

type Role = { id: string; name: string; domain_id: string | null };

/** Token ids look like Fernet tokens ('gAAAA' + url-safe base64) but are random and opaque. */
const TOKEN_PREFIX = 'gAAAA';
const TOKEN_RE = /^gAAAA[A-Za-z0-9_-]{43,123}$/;

/** Keystone's audit id: 22 url-safe base64 characters; derived so it needs no column. */
export function auditIdOf(tokenId: string): string {
  return createHash('sha256').update(tokenId).digest('base64url').slice(0, 22);
}

/**
 * What the tokens table and the cache are keyed by: SHA-256 of the id, never the id, so a copy
 * of the table (a backup, a read-only database role, an SQL injection elsewhere) yields no
 * usable token. A plain hash suffices — no salt, no stretching — because the ids are 384
 * random bits: there is no dictionary to try. (The audit id is a prefix of the same digest;
 * it is public by design, and inverting either is inverting SHA-256.)
 */
export function tokenHashOf(tokenId: string): string {
  return createHash('sha256').update(tokenId).digest('hex');
}

export interface TokenServiceOptions {
  /** How long a validated context is trusted without reading the database again. */
  cacheTtlMs?: number;
  /** Bound on cached contexts; the oldest are dropped first. */
  cacheSize?: number;
}

/** Bound on the roles one token carries after implications (Keystone has no more than a few). */
const MAX_TOKEN_ROLES = 100;

interface CacheEntry { ctx: AuthContext; until: number }

/**
 * Issues, validates and revokes tokens stored in the `tokens` table. validate() runs on every
 * API request, so validated contexts are cached for a few seconds; a revocation made in this
 * process takes effect at once, one made elsewhere within the cache lifetime.
 */
export class TokenService implements TokenValidator {
  private readonly cache = new Map<string, CacheEntry>();
  private readonly cacheTtlMs: number;
  private readonly cacheSize: number;
  private lastPurge = 0;

  constructor(private readonly db: Db, private readonly config: Config, opts: TokenServiceOptions = {}) {
    this.cacheTtlMs = opts.cacheTtlMs ?? 5000;
    this.cacheSize = opts.cacheSize ?? 10000;
  }

  /**
   * Issues a token for a user, scoped to a project (the user must hold a role there) or unscoped.
   * A token obtained with another token (`parent`) expires with it, as Keystone's do: otherwise
   * re-authenticating with the token method would renew a token forever.
   */
  async issue(userId: string, projectId: string | null, parent?: AuthContext, scope: TokenScope = {}): Promise<AuthContext> {
    const issuedAt = now();
    const fresh = issuedAt.getTime() + this.config.num('identity', 'token_expiration') * 1000;
    let limit = parent === undefined ? fresh : Math.min(fresh, parent.expiresAt.getTime());
    // A credential's token lives no longer than the credential.
    if (scope.appCredId) {
      const cred = await getAppCred(this.db, scope.appCredId);
      if (cred?.expires_at) limit = Math.min(limit, Date.parse(cred.expires_at));
    }
    const expiresAt = new Date(limit);
    const tokenId = TOKEN_PREFIX + randomBytes(48).toString('base64url');
    const ctx = await this.load(tokenId, userId, projectId, issuedAt, expiresAt, scope);
    await insertToken(this.db, {
      id: tokenHashOf(tokenId), user_id: userId, project_id: projectId,
      issued_at: issuedAt.toISOString(), expires_at: expiresAt.toISOString(), revoked: 0,
      app_cred_id: scope.appCredId ?? null, domain_id: scope.domainId ?? null,
    });
    this.remember(ctx);
    await this.purgeOccasionally(issuedAt);
    return ctx;
  }

  async validate(tokenId: string | undefined): Promise<AuthContext> {
    if (tokenId === undefined || tokenId === '') throw new Unauthorized();
    if (!TOKEN_RE.test(tokenId)) throw new Unauthorized('The request you have made requires authentication.');
    const at = Date.now();
    const hash = tokenHashOf(tokenId);
    const hit = this.cache.get(hash);
    if (hit) {
      if (hit.ctx.expiresAt.getTime() <= at) {
        this.cache.delete(hash);
        throw new Unauthorized('The token has expired.');
      }
      if (hit.until > at) return hit.ctx;
      this.cache.delete(hash);
    }
    const row = await getToken(this.db, hash);
    if (!row || row.revoked === 1) throw new Unauthorized('The request you have made requires authentication.');
    const expiresAt = new Date(row.expires_at);
    if (expiresAt.getTime() <= at) throw new Unauthorized('The token has expired.');
    const ctx = await this.load(tokenId, row.user_id, row.project_id, new Date(row.issued_at), expiresAt,
      { domainId: row.domain_id ?? null, appCredId: row.app_cred_id ?? null });
    this.remember(ctx);
    return ctx;
  }

  async revoke(tokenId: string): Promise<void> {
    const hash = tokenHashOf(tokenId);
    this.cache.delete(hash);
    await revokeToken(this.db, hash);
  }

  /** Revokes every token of a user, of a project, or of a user on one project. */
  async revokeWhere(f: { userId?: string; projectId?: string }): Promise<void> {
    this.forget(f);
    await revokeTokens(this.db, f);
  }

  /** Drops cached contexts matching the filter (after the database already revoked them). */
  forget(f: { userId?: string; projectId?: string; appCredId?: string; domainId?: string }): void {
    for (const [hash, e] of this.cache) {
      if (f.domainId !== undefined && e.ctx.domainId !== f.domainId && e.ctx.userDomainId !== f.domainId && e.ctx.projectDomainId !== f.domainId) continue;
      const userMatch = f.userId === undefined || e.ctx.userId === f.userId;
      const projectMatch = f.projectId === undefined || e.ctx.projectId === f.projectId;
      const credMatch = f.appCredId === undefined || e.ctx.applicationCredential?.id === f.appCredId;
      if (userMatch && projectMatch && credMatch) this.cache.delete(hash);
    }
  }

  /**
   * Builds the context from the current user, project or domain, roles (own, groups', inherited)
   * and application credential; Unauthorized if any is gone. A credential's roles must all still
   * be held by its user, and the token carries only those (and what they imply). Domain-specific
   * roles never appear in a token, as in Keystone: only the global roles they imply do.
   */
  private async load(
    tokenId: string, userId: string, projectId: string | null, issuedAt: Date, expiresAt: Date, scope: TokenScope = {},
  ): Promise<AuthContext> {
    const refuse = (): Unauthorized => new Unauthorized('The request you have made requires authentication.');
    const user = await getUser(this.db, userId);
    if (!user || user.enabled !== 1) throw refuse();
    const userDomain = await getDomain(this.db, user.domain_id);
    if (userDomain && userDomain.enabled !== 1) throw refuse();
    let project = null;
    let projectDomainName: string | null = null;
    let domain = null;
    let roles: Role[] = [];
    if (projectId !== null) {
      project = await getProject(this.db, projectId);
      if (!project || project.enabled !== 1) throw refuse();
      const projectDomain = await getDomain(this.db, project.domain_id);
      if (projectDomain && projectDomain.enabled !== 1) throw refuse();
      projectDomainName = projectDomain?.name ?? null;
      roles = await this.withImpliedRoles(await effectiveRolesOnProject(this.db, userId, projectId));
    } else if (scope.domainId) {
      domain = await getDomain(this.db, scope.domainId);
      if (!domain || domain.enabled !== 1) throw refuse();
      roles = await this.withImpliedRoles(await effectiveRolesOnDomain(this.db, userId, domain.id));
    }
    let applicationCredential: AuthContext['applicationCredential'];
    if (scope.appCredId) {
      const cred = await getAppCred(this.db, scope.appCredId);
      if (!cred || cred.user_id !== userId || cred.project_id !== projectId) throw refuse();
      if (cred.expires_at !== null && Date.parse(cred.expires_at) <= Date.now()) throw refuse();
      const held = new Set(roles.map((r) => r.id));
      const wanted = JSON.parse(cred.roles) as string[];
      if (wanted.length === 0 || !wanted.every((id) => held.has(id))) throw refuse();
      roles = await this.withImpliedRoles(await listRoles(this.db, { ids: wanted }));
      applicationCredential = {
        id: cred.id, name: cred.name, unrestricted: cred.unrestricted === 1,
        accessRules: cred.access_rules === null ? null : JSON.parse(cred.access_rules) as AccessRule[],
      };
    }
    roles = roles.filter((r) => r.domain_id === null);
    if ((project !== null || domain !== null) && roles.length === 0) throw refuse();
    return {
      tokenId,
      userId: user.id,
      userName: user.name,
      userDomainId: user.domain_id,
      projectId: project?.id ?? null,
      projectName: project?.name ?? null,
      projectDomainId: project?.domain_id ?? null,
      roles: roles.map((r) => ({ id: r.id, name: r.name })),
      isAdmin: roles.some((r) => r.name === 'admin'),
      ...(domain !== null ? { domainId: domain.id, domainName: domain.name } : {}),
      ...(userDomain ? { userDomainName: userDomain.name } : {}),
      ...(projectDomainName !== null ? { projectDomainName } : {}),
      ...(applicationCredential !== undefined ? { applicationCredential } : {}),
      issuedAt,
      expiresAt,
    };
  }

  /**
   * The roles held and those they imply (the implied_roles rows; bootstrap makes admin imply
   * member and member imply reader), transitively, as Keystone lists them in a token.
   */
  private async withImpliedRoles(direct: Role[]): Promise<Role[]> {
    const rules = await listImpliedRoles(this.db);
    if (rules.length === 0) return direct;
    const implies = new Map<string, string[]>();
    for (const r of rules) implies.set(r.prior_role_id, [...(implies.get(r.prior_role_id) ?? []), r.implied_role_id]);
    const have = new Set(direct.map((r) => r.id));
    const wanted: string[] = [];
    const queue = [...have];
    while (queue.length > 0 && have.size < MAX_TOKEN_ROLES) {
      for (const implied of implies.get(queue.shift()!) ?? []) {
        if (have.has(implied)) continue;
        have.add(implied);
        wanted.push(implied);
        queue.push(implied);
      }
    }
    if (wanted.length === 0) return direct;
    const extra = await listRoles(this.db, { ids: wanted });
    return [...direct, ...extra];
  }

  private remember(ctx: AuthContext): void {
    const hash = tokenHashOf(ctx.tokenId);
    this.cache.delete(hash);
    this.cache.set(hash, { ctx, until: Date.now() + this.cacheTtlMs });
    while (this.cache.size > this.cacheSize) {
      const oldest = this.cache.keys().next().value;
      if (oldest === undefined) break;
      this.cache.delete(oldest);
    }
  }

  /** Expired rows are useless; drop them at most once a minute, piggybacking on issue(). */
  private async purgeOccasionally(at: Date): Promise<void> {
    if (at.getTime() - this.lastPurge < 60_000) return;
    this.lastPurge = at.getTime();
    await purgeExpiredTokens(this.db, at.toISOString());
  }
}
