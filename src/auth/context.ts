import type { AccessRule } from './access-rules.js';

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
  /** The names of the user's and the project's domains (their ids above). */
  userDomainName?: string;
  projectDomainName?: string | null;
  /** The domain of a domain-scoped token (its projectId is then null). */
  domainId?: string | null;
  domainName?: string | null;
  /** Set when an application credential issued the token: every API checks its access rules. */
  applicationCredential?: {
    id: string;
    name: string;
    unrestricted: boolean;
    /** Null: not limited; otherwise only the requests one rule allows (src/auth/access-rules.ts). */
    accessRules: AccessRule[] | null;
  };
  issuedAt: Date;
  expiresAt: Date;
}

/** Validates a token id; throws Unauthorized when it is missing, malformed, expired or revoked. */
export interface TokenValidator {
  validate(tokenId: string | undefined): Promise<AuthContext>;
}
