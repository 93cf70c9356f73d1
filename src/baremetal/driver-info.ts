/**
 * driver_info's secrets: the keys Ironic masks (ironic/common/utils.py's password keys). They
 * never reach a row in clear — they are sealed with the credential keys, bound to the node's
 * uuid — and never a response: the API shows them as `******`.
 */

/** A sealed value as CredentialKeys makes it. */
export interface Sealed { ciphertext: string; keyHash: string }

/**
 * What seals and opens: CredentialKeys (src/identity/credential-keys.ts), handed in by src/cmd
 * (a service does not import another service).
 */
export interface Sealer {
  seal(plain: string, context: string): Sealed;
  open(sealed: Sealed, context: string): string;
}

export const MASK = '******';

/** Ironic masks every key ending in password, plus a few known secrets. */
export function isSecretKey(k: string): boolean {
  return /password$/i.test(k) || /^(snmp_auth_key|snmp_priv_key|ipmi_kg_key)$/.test(k);
}

export type Json = Record<string, unknown>;

/** The node columns that hold driver_info. */
export interface StoredDriverInfo { driver_info: string; driver_secrets: string | null; driver_secrets_key: string | null }

const context = (uuid: string): string => `baremetal-node:${uuid}`;

/** driver_info split into its stored columns: the public keys as JSON, the secrets sealed. */
export function sealDriverInfo(keys: Sealer, uuid: string, info: Json): StoredDriverInfo {
  const open: Json = Object.create(null);
  const secret: Json = Object.create(null);
  for (const [k, v] of Object.entries(info)) (isSecretKey(k) ? secret : open)[k] = v;
  if (Object.keys(secret).length === 0) return { driver_info: JSON.stringify(open), driver_secrets: null, driver_secrets_key: null };
  const sealed = keys.seal(JSON.stringify(secret), context(uuid));
  return { driver_info: JSON.stringify(open), driver_secrets: sealed.ciphertext, driver_secrets_key: sealed.keyHash };
}

/** The whole driver_info, secrets included (for the conductor talking to the BMC; never for a response). */
export function openDriverInfo(keys: Sealer, uuid: string, row: StoredDriverInfo): Json {
  const info = JSON.parse(row.driver_info) as Json;
  if (row.driver_secrets === null || row.driver_secrets_key === null) return info;
  const secret = JSON.parse(keys.open({ ciphertext: row.driver_secrets, keyHash: row.driver_secrets_key }, context(uuid))) as Json;
  return { ...info, ...secret };
}

/** driver_info as the API shows it: each secret key present, its value `******`. */
export function maskedDriverInfo(keys: Sealer, uuid: string, row: StoredDriverInfo): Json {
  const info = openDriverInfo(keys, uuid, row);
  for (const k of Object.keys(info)) if (isSecretKey(k)) info[k] = MASK;
  return info;
}
