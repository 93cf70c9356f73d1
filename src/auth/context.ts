/** The identity a validated token carries; every API request handler receives one. */
export interface AuthContext {
  tokenId: string;
  userId: string;
  userName: string;
  userDomainId: string;
  /** Null for an unscoped token. */
  projectId: string | null;
  projectName: string | null;
  projectDomainId: string | null;
  roles: Array<{ id: string; name: string }>;
  isAdmin: boolean;
  issuedAt: Date;
  expiresAt: Date;
}

/** Validates a token id; throws Unauthorized when it is missing, malformed, expired or revoked. */
export interface TokenValidator {
  validate(tokenId: string | undefined): Promise<AuthContext>;
}
