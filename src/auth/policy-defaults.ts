/**
 * The shape of one policy rule default, as oslo.policy's RuleDefault: every route names one
 * (`config.policy`), and each API area lists its defaults in one table beside its routes
 * (src/api/policies/*.ts, src/image/policies.ts, src/identity/policies.ts).
 */
export interface PolicyDefault {
  /** oslo.policy's rule name, e.g. `os_compute_api:servers:create`. */
  readonly name: string;
  /** The default check string in oslo.policy's language, e.g. `rule:project_member_or_admin`. */
  readonly check: string;
  readonly description: string;
}

/** Nova's (Zed) base rules, which the defaults of every area refer to with `rule:<name>`. */
export const BASE_RULES: readonly PolicyDefault[] = [
  { name: 'context_is_admin', check: 'role:admin', description: 'Decides what is required for the is_admin:True check.' },
  { name: 'admin_or_owner', check: 'is_admin:True or project_id:%(project_id)s', description: 'Legacy: admin or owner.' },
  { name: 'admin_api', check: 'is_admin:True', description: 'Default rule for most admin APIs.' },
  { name: 'project_member_api', check: 'role:member and project_id:%(project_id)s', description: 'Default rule for project-level non-admin APIs.' },
  { name: 'project_reader_api', check: 'role:reader and project_id:%(project_id)s', description: 'Default rule for project-level read-only APIs.' },
  { name: 'project_member_or_admin', check: 'rule:project_member_api or rule:context_is_admin', description: 'Project member or admin.' },
  { name: 'project_reader_or_admin', check: 'rule:project_reader_api or rule:context_is_admin', description: 'Project reader or admin.' },
];

/** The checks the API tables use most (Nova's new defaults): admin, project reader, project member. */
export const ADMIN_CHECK = 'rule:context_is_admin';
export const READER_CHECK = 'rule:project_reader_or_admin';
export const MEMBER_CHECK = 'rule:project_member_or_admin';

/** One rule default, in the order the tables read best: name, check, description. */
export const policyRule = (name: string, check: string, description: string): PolicyDefault => ({ name, check, description });
