import type { PolicyDefault } from '../../auth/policy-defaults.js';

/**
 * Nova's (Zed) rule defaults for what the groups-admin work serves: server groups, the admin
 * and deferred-delete actions, backups, crash dumps, server passwords, external events and
 * server addresses. The routes and action entries name these rules (`policy:`).
 */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  { name: 'os_compute_api:os-server-groups:create', check: 'rule:project_member_api', description: 'Create a new server group' },
  { name: 'os_compute_api:os-server-groups:delete', check: 'rule:project_member_or_admin', description: 'Delete a server group' },
  { name: 'os_compute_api:os-server-groups:index', check: 'rule:project_reader_or_admin', description: 'List all server groups' },
  { name: 'os_compute_api:os-server-groups:index:all_projects', check: 'rule:context_is_admin', description: 'List all server groups for all projects' },
  { name: 'os_compute_api:os-server-groups:show', check: 'rule:project_reader_or_admin', description: 'Show details of a server group' },
  { name: 'os_compute_api:os-admin-actions:reset_state', check: 'rule:context_is_admin', description: 'Reset the state of a given server' },
  { name: 'os_compute_api:os-deferred-delete:restore', check: 'rule:project_member_or_admin', description: 'Restore a soft deleted server' },
  { name: 'os_compute_api:os-deferred-delete:force', check: 'rule:project_member_or_admin', description: 'Force delete a server before deferred cleanup' },
  { name: 'os_compute_api:os-create-backup', check: 'rule:project_member_or_admin', description: 'Create a back up of a server' },
  { name: 'os_compute_api:servers:trigger_crash_dump', check: 'rule:project_member_or_admin', description: 'Trigger crash dump in a server' },
  { name: 'os_compute_api:os-server-password:show', check: 'rule:project_reader_or_admin', description: 'Show the encrypted administrative password of a server' },
  { name: 'os_compute_api:os-server-password:clear', check: 'rule:project_member_or_admin', description: 'Clear the encrypted administrative password of a server' },
  { name: 'os_compute_api:os-server-external-events:create', check: 'rule:admin_api', description: 'Create one or more external events' },
  { name: 'os_compute_api:ips:index', check: 'rule:project_reader_or_admin', description: 'List IP addresses that are assigned to a server' },
  { name: 'os_compute_api:ips:show', check: 'rule:project_reader_or_admin', description: 'Show IP addresses details for a network label of a server' },
];
