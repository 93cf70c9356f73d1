import type { Generated } from 'kysely';

/** The identity tables of migration 012 (issue #22). Booleans 0/1, JSON and timestamps as text. */

export interface DomainTable {
  id: string;
  name: string;
  description: string;
  enabled: number;
  /** JSON object: the attributes Keystone keeps that have no column. */
  extra: string;
  created_at: string;
}
export interface GroupTable {
  id: string;
  domain_id: string;
  name: string;
  description: string;
  created_at: string;
}
export interface GroupMemberTable {
  group_id: string;
  user_id: string;
}
/** Every role assignment except user-on-project (role_assignments). */
export interface GrantTable {
  actor_type: 'user' | 'group';
  actor_id: string;
  target_type: 'project' | 'domain';
  target_id: string;
  role_id: string;
  /** 1: on every project of the target domain (OS-INHERIT), not on the domain itself. */
  inherited: number;
}
export interface ApplicationCredentialTable {
  id: string;
  name: string;
  user_id: string;
  project_id: string;
  /** The secret's hash (src/auth/passwords.ts); the secret itself is shown once, at create. */
  secret_hash: string;
  description: string | null;
  expires_at: string | null;
  unrestricted: number;
  /** JSON list of role ids: a subset of the creator's roles on the project at create. */
  roles: string;
  /** JSON list of {id, service, method, path}; null: the credential is not limited. */
  access_rules: string | null;
  created_at: string;
}
export interface ProjectTagTable {
  project_id: string;
  tag: string;
}

export interface IdentityTables {
  domains: DomainTable;
  identity_groups: GroupTable;
  group_members: GroupMemberTable;
  grants: GrantTable;
  application_credentials: ApplicationCredentialTable;
  project_tags: ProjectTagTable;
}

/** Columns 012 adds to tables of 001 (default '{}' / null, so older writers still insert). */
export interface UserColumns012 { options: Generated<string>; extra: Generated<string> }
export interface ProjectColumns012 { extra: Generated<string> }
export interface TokenColumns012 { app_cred_id?: string | null; domain_id?: string | null }
