import { createHash, randomBytes } from 'node:crypto';
import type { Config } from '../common/config.js';
import { Unauthorized } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  getProject, getToken, getUser, insertToken, listImpliedRoles, listRoles, purgeExpiredTokens, revokeToken, revokeTokens, rolesOn,
} from '../db/identity.js';
import type { AuthContext, TokenValidator } from './context.js';

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
  async issue(userId: string, projectId: string | null, parent?: AuthContext): Promise<AuthContext> {
    const issuedAt = now();
    const fresh = issuedAt.getTime() + this.config.num('identity', 'token_expiration') * 1000;
    const expiresAt = new Date(parent === undefined ? fresh : Math.min(fresh, parent.expiresAt.getTime()));
    const tokenId = TOKEN_PREFIX + randomBytes(48).toString('base64url');
    const ctx = await this.load(tokenId, userId, projectId, issuedAt, expiresAt);
    await insertToken(this.db, {
      id: tokenHashOf(tokenId), user_id: userId, project_id: projectId,
      issued_at: issuedAt.toISOString(), expires_at: expiresAt.toISOString(), revoked: 0,
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
    const ctx = await this.load(tokenId, row.user_id, row.project_id, new Date(row.issued_at), expiresAt);
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
  forget(f: { userId?: string; projectId?: string }): void {
    for (const [hash, e] of this.cache) {
      const userMatch = f.userId === undefined || e.ctx.userId === f.userId;
      const projectMatch = f.projectId === undefined || e.ctx.projectId === f.projectId;
      if (userMatch && projectMatch) this.cache.delete(hash);
    }
  }

  /** Builds the context from the current user, project and roles; Unauthorized if any is gone. */
  private async load(tokenId: string, userId: string, projectId: string | null, issuedAt: Date, expiresAt: Date): Promise<AuthContext> {
    const user = await getUser(this.db, userId);
    if (!user || user.enabled !== 1) throw new Unauthorized('The request you have made requires authentication.');
    let project = null;
    let roles: Array<{ id: string; name: string }> = [];
    if (projectId !== null) {
      project = await getProject(this.db, projectId);
      if (!project || project.enabled !== 1) throw new Unauthorized('The request you have made requires authentication.');
      roles = await this.withImpliedRoles((await rolesOn(this.db, userId, projectId)).map((r) => ({ id: r.id, name: r.name })));
      if (roles.length === 0) throw new Unauthorized('The request you have made requires authentication.');
    }
    return {
      tokenId,
      userId: user.id,
      userName: user.name,
      userDomainId: user.domain_id,
      projectId: project?.id ?? null,
      projectName: project?.name ?? null,
      projectDomainId: project?.domain_id ?? null,
      roles,
      isAdmin: roles.some((r) => r.name === 'admin'),
      issuedAt,
      expiresAt,
    };
  }

  /**
   * The roles held and those they imply (the implied_roles rows; bootstrap makes admin imply
   * member and member imply reader), transitively, as Keystone lists them in a token.
   */
  private async withImpliedRoles(direct: Array<{ id: string; name: string }>): Promise<Array<{ id: string; name: string }>> {
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
    const extra = (await listRoles(this.db, { ids: wanted })).map((r) => ({ id: r.id, name: r.name }));
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
