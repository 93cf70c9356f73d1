import { randomBytes, randomUUID } from 'node:crypto';

export const newUuid = (): string => randomUUID();
/** Request ids as OpenStack formats them: req-<uuid>. */
export const newRequestId = (): string => `req-${randomUUID()}`;
/** Keystone ids are 32 hex characters. */
export const newHexId = (): string => randomBytes(16).toString('hex');

const UUID_RE = /^[0-9a-f]{8}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{4}-?[0-9a-f]{12}$/i;
export const isUuidLike = (s: string): boolean => UUID_RE.test(s);
