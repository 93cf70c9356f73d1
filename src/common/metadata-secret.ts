import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import type { Config } from './config.js';

/**
 * The secret the metadata proxy's forwarder and the metadata API share (Nova's and Neutron's
 * `metadata_proxy_shared_secret`): the forwarder signs the instance id it found for a guest's
 * address, the API serves only signed ids. One module for both sides, so the signature cannot
 * drift between them.
 */

/** The file that holds the secret when `[neutron] metadata_proxy_shared_secret` is empty. */
export const SECRET_FILE = 'metadata_proxy_shared_secret';

/**
 * `[neutron] metadata_proxy_shared_secret`, or — when it is empty — a random secret kept in
 * `$state_path/metadata_proxy_shared_secret` (made on first use, mode 0600), so an all-in-one
 * and the agents of its machine agree without configuration while no default secret exists that
 * an attacker could know. Hosts that share no state_path must set the option.
 */
export function metadataProxySecret(config: Config): string {
  const configured = config.opt('neutron', 'metadata_proxy_shared_secret') ?? '';
  if (configured !== '') return configured;
  const path = config.statePath(SECRET_FILE);
  try {
    const existing = readFileSync(path, 'utf8').trim();
    if (existing !== '') return existing;
  } catch {
    // not made yet
  }
  mkdirSync(dirname(path), { recursive: true });
  const made = randomBytes(32).toString('hex');
  try {
    // 'wx': of two processes making it at once, one wins and the other reads the winner's.
    writeFileSync(path, `${made}\n`, { mode: 0o600, flag: 'wx' });
    return made;
  } catch {
    return readFileSync(path, 'utf8').trim();
  }
}

/** X-Instance-ID-Signature: HMAC-SHA256 of the instance id with the shared secret, hex (Nova's). */
export function signInstanceId(secret: string, instanceId: string): string {
  return createHmac('sha256', secret).update(instanceId, 'utf8').digest('hex');
}

/** Whether `signature` is the signature of `instanceId`, compared in constant time. */
export function instanceIdSignatureValid(secret: string, instanceId: string, signature: string): boolean {
  const expected = Buffer.from(signInstanceId(secret, instanceId), 'utf8');
  const given = Buffer.from(signature, 'utf8');
  return given.length === expected.length && timingSafeEqual(given, expected);
}
