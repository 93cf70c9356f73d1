/**
 * The table added by migration 015_console_auth_tokens: one row per console URL handed out
 * (Nova's console_auth_tokens), keyed by the SHA-256 of its token, never the token.
 */
export interface ConsoleAuthTokenTable {
  /** SHA-256 (hex) of the token in the URL. */
  token_hash: string;
  /** The API's console type: novnc or serial. */
  console_type: string;
  /** Where the guest's console listens, as its compute host answered. */
  host: string;
  port: number;
  internal_access_path: string | null;
  instance_uuid: string;
  /** The URL the token was handed out with (without the token). */
  access_url_base: string;
  created_at: string;
  /** ISO time after which the token opens nothing ([consoleauth] token_ttl after created_at). */
  expires_at: string;
}

export interface ConsoleTables {
  console_auth_tokens: ConsoleAuthTokenTable;
}
