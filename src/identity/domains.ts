import { BadRequest, NotFound, Unauthorized } from '../common/errors.js';
import type { Db } from '../db/connection.js';
import { findDomainByName, getDomain, type DomainRow } from '../db/identity-domains.js';

export async function domainOr404(db: Db, id: string): Promise<DomainRow> {
  const d = await getDomain(db, id);
  if (!d) throw new NotFound(`Could not find domain: ${id}.`);
  return d;
}

/** The domain a create names (`domain_id`), 400 when it does not exist (as Keystone's validation). */
export async function domainForCreate(db: Db, domainId: string | null | undefined, fallback: string): Promise<DomainRow> {
  const id = domainId ?? fallback;
  const d = await getDomain(db, id);
  if (!d) throw new BadRequest(`Could not find domain: ${id}.`);
  return d;
}

/**
 * The domain an authentication request names (`user.domain`, `project.domain`, `scope.domain`)
 * by id or by name — the id when both are given, as Keystone reads it. Null when none matches
 * (the caller answers 401: an unknown domain is a failed authentication, not a 404).
 */
export async function authDomain(db: Db, ref: { id?: string; name?: string } | undefined): Promise<DomainRow | null> {
  if (ref === undefined || (ref.id === undefined && ref.name === undefined)) {
    throw new BadRequest('Invalid input: a name requires a domain id or name');
  }
  return ref.id !== undefined ? getDomain(db, ref.id) : findDomainByName(db, ref.name!);
}

/** An enabled domain by reference, or 401. */
export async function enabledAuthDomain(db: Db, ref: { id?: string; name?: string } | undefined): Promise<DomainRow> {
  const d = await authDomain(db, ref);
  if (!d || d.enabled !== 1) throw new Unauthorized('The request you have made requires authentication.');
  return d;
}
