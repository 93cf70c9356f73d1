import type { PolicyDefault } from '../auth/policy-defaults.js';

/**
 * The identity API's rules: Keystone's names and defaults as Orrery has them (project scope
 * only, no system scope): the admin APIs are admin-only; a user reads itself, its projects and
 * its own tokens. The target holds the resource the URL names (`target.user.id`, …).
 */
const ADMIN = 'rule:admin_required';
const rule = (name: string, check: string, description: string): PolicyDefault => ({ name, check, description });

export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('admin_required', 'role:admin', "Keystone's admin check."),
  rule('service_role', 'role:service', "Keystone's service check."),
  rule('service_or_admin', 'rule:admin_required or rule:service_role', 'Admin or a service.'),
  rule('token_subject', 'user_id:%(target.token.user_id)s', 'The user of the token acted on.'),
  rule('service_admin_or_token_subject', 'rule:service_or_admin or rule:token_subject', 'Admin, a service, or the token owner.'),
  rule('identity:validate_token', 'rule:service_admin_or_token_subject', 'Validate a token.'),
  rule('identity:check_token', 'rule:service_admin_or_token_subject', 'Check a token (HEAD).'),
  rule('identity:revoke_token', 'rule:service_admin_or_token_subject', 'Revoke a token.'),
  rule('identity:get_auth_catalog', '', 'The catalog of the own token.'),
  rule('identity:get_auth_projects', '', 'The projects the own token may be scoped to.'),
  rule('identity:get_auth_domains', '', 'The domains the own token may be scoped to.'),
  rule('identity:get_auth_system', '', 'The system scopes of the own token.'),
  rule('identity:list_services', ADMIN, 'List services.'),
  rule('identity:get_service', ADMIN, 'Show a service.'),
  rule('identity:list_endpoints', ADMIN, 'List endpoints.'),
  rule('identity:get_endpoint', ADMIN, 'Show an endpoint.'),
  rule('identity:list_regions', '', 'List regions.'),
  rule('identity:get_region', '', 'Show a region.'),
  rule('identity:list_domains', ADMIN, 'List domains.'),
  rule('identity:get_domain', `${ADMIN} or project_domain_id:%(target.domain.id)s or user_domain_id:%(target.domain.id)s`, 'Show a domain.'),
  rule('identity:create_domain', ADMIN, 'Create a domain.'),
  rule('identity:update_domain', ADMIN, 'Update a domain.'),
  rule('identity:delete_domain', ADMIN, 'Delete a domain.'),
  rule('identity:list_users', ADMIN, 'List users.'),
  rule('identity:get_user', `${ADMIN} or user_id:%(target.user.id)s`, 'Show a user.'),
  rule('identity:create_user', ADMIN, 'Create a user.'),
  rule('identity:update_user', ADMIN, 'Update a user.'),
  rule('identity:delete_user', ADMIN, 'Delete a user.'),
  rule('identity:list_user_projects', `${ADMIN} or user_id:%(target.user.id)s`, "List a user's projects."),
  rule('identity:change_password', 'user_id:%(target.user.id)s', 'Change the own password.'),
  rule('identity:list_projects', ADMIN, 'List projects.'),
  rule('identity:get_project', `${ADMIN} or project_id:%(target.project.id)s`, 'Show a project.'),
  rule('identity:create_project', ADMIN, 'Create a project.'),
  rule('identity:update_project', ADMIN, 'Update a project.'),
  rule('identity:delete_project', ADMIN, 'Delete a project.'),
  rule('identity:list_roles', ADMIN, 'List roles.'),
  rule('identity:get_role', ADMIN, 'Show a role.'),
  rule('identity:create_role', ADMIN, 'Create a role.'),
  rule('identity:update_role', ADMIN, 'Update a role.'),
  rule('identity:delete_role', ADMIN, 'Delete a role.'),
  rule('identity:create_grant', ADMIN, 'Grant a role.'),
  rule('identity:check_grant', ADMIN, 'Check a role grant.'),
  rule('identity:revoke_grant', ADMIN, 'Revoke a role.'),
  rule('identity:list_grants', ADMIN, "List a user's roles on a project."),
  rule('identity:list_role_assignments', ADMIN, 'List role assignments.'),
  rule('identity:list_role_inference_rules', ADMIN, 'List every role implication.'),
  rule('identity:list_implied_roles', ADMIN, 'List the roles a role implies.'),
  rule('identity:get_implied_role', ADMIN, 'Show one role implication.'),
  rule('identity:check_implied_role', ADMIN, 'Check one role implication.'),
  rule('identity:create_implied_role', ADMIN, 'Create a role implication.'),
  rule('identity:delete_implied_role', ADMIN, 'Delete a role implication.'),
];
