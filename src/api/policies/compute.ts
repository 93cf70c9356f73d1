import type { PolicyDefault } from '../../auth/policy-defaults.js';

/**
 * The compute API's rules: Nova Zed's names and new defaults (`enforce_new_defaults`): a project
 * reader reads, a project member writes, admin everything. Where Orrery differs from Nova it is
 * said on the rule.
 */

const ADMIN = 'rule:context_is_admin';
const READER = 'rule:project_reader_or_admin';
const MEMBER = 'rule:project_member_or_admin';
/** Nova lets any authenticated user call these (flavor listing, the limits and zones). */
const ANY = '@';

const rule = (name: string, check: string, description: string): PolicyDefault => ({ name, check, description });

export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('os_compute_api:servers:index', READER, 'List servers.'),
  rule('os_compute_api:servers:detail', READER, 'List servers with details.'),
  rule('os_compute_api:servers:index:get_all_tenants', ADMIN, 'List servers of all projects.'),
  rule('os_compute_api:servers:detail:get_all_tenants', ADMIN, 'List servers of all projects with details.'),
  rule('os_compute_api:servers:allow_all_filters', ADMIN, 'Use every server list filter.'),
  rule('os_compute_api:servers:show', READER, 'Show a server.'),
  rule('os_compute_api:servers:show:host_status', ADMIN, 'Show the host status of a server.'),
  rule('os_compute_api:servers:create', MEMBER, 'Create a server.'),
  rule('os_compute_api:servers:create:forced_host', ADMIN, 'Create a server on a named host or node.'),
  rule('os_compute_api:servers:update', MEMBER, 'Update a server.'),
  rule('os_compute_api:servers:delete', MEMBER, 'Delete a server.'),
  rule('os_compute_api:servers:start', MEMBER, 'Start a server.'),
  rule('os_compute_api:servers:stop', MEMBER, 'Stop a server.'),
  rule('os_compute_api:servers:reboot', MEMBER, 'Reboot a server.'),
  rule('os_compute_api:servers:rebuild', MEMBER, 'Rebuild a server.'),
  rule('os_compute_api:servers:create_image', MEMBER, 'Snapshot a server into an image.'),
  rule('os_compute_api:os-pause-server:pause', MEMBER, 'Pause a server.'),
  rule('os_compute_api:os-pause-server:unpause', MEMBER, 'Unpause a server.'),
  rule('os_compute_api:os-suspend-server:suspend', MEMBER, 'Suspend a server.'),
  rule('os_compute_api:os-suspend-server:resume', MEMBER, 'Resume a suspended server.'),
  rule('os_compute_api:os-lock-server:lock', MEMBER, 'Lock a server.'),
  rule('os_compute_api:os-lock-server:unlock', MEMBER, 'Unlock a server.'),
  rule('os_compute_api:os-lock-server:unlock:unlock_override', ADMIN, 'Unlock a server locked by someone else.'),
  rule('os_compute_api:os-console-output', MEMBER, "Show a server's console output."),
  rule('os_compute_api:os-server-diagnostics', ADMIN, "Show a server's diagnostics."),
  rule('os_compute_api:server-metadata:index', READER, "List a server's metadata."),
  rule('os_compute_api:server-metadata:show', READER, "Show one of a server's metadata items."),
  rule('os_compute_api:server-metadata:create', MEMBER, "Add to a server's metadata."),
  rule('os_compute_api:server-metadata:update_all', MEMBER, "Replace a server's metadata."),
  rule('os_compute_api:server-metadata:update', MEMBER, "Set one of a server's metadata items."),
  rule('os_compute_api:server-metadata:delete', MEMBER, "Delete one of a server's metadata items."),
  rule('os_compute_api:os-server-tags:index', READER, "List a server's tags."),
  rule('os_compute_api:os-server-tags:show', READER, 'Check a server tag.'),
  rule('os_compute_api:os-server-tags:update_all', MEMBER, "Replace a server's tags."),
  rule('os_compute_api:os-server-tags:update', MEMBER, 'Add a server tag.'),
  rule('os_compute_api:os-server-tags:delete_all', MEMBER, "Delete a server's tags."),
  rule('os_compute_api:os-server-tags:delete', MEMBER, 'Delete a server tag.'),
  rule('os_compute_api:os-instance-actions:list', READER, "List a server's actions."),
  rule('os_compute_api:os-instance-actions:show', READER, 'Show a server action.'),
  rule('os_compute_api:os-instance-actions:events', ADMIN, "Show an action's events."),
  // Nova has no rule on reading flavors: any token may. Orrery names one so that every route has a rule.
  rule('os_compute_api:flavors:index', ANY, 'Orrery: list flavors (Nova: no policy).'),
  rule('os_compute_api:flavors:show', ANY, 'Orrery: show a flavor (Nova: no policy).'),
  rule('os_compute_api:os-flavor-manage:create', ADMIN, 'Create a flavor.'),
  rule('os_compute_api:os-flavor-manage:update', ADMIN, 'Update a flavor.'),
  rule('os_compute_api:os-flavor-manage:delete', ADMIN, 'Delete a flavor.'),
  rule('os_compute_api:os-flavor-extra-specs:index', READER, "List a flavor's extra specs."),
  rule('os_compute_api:os-flavor-extra-specs:show', READER, "Show one of a flavor's extra specs."),
  rule('os_compute_api:os-flavor-extra-specs:create', ADMIN, 'Create flavor extra specs.'),
  rule('os_compute_api:os-flavor-extra-specs:update', ADMIN, 'Update a flavor extra spec.'),
  rule('os_compute_api:os-flavor-extra-specs:delete', ADMIN, 'Delete a flavor extra spec.'),
  rule('os_compute_api:os-flavor-access', ADMIN, 'List the projects of a private flavor.'),
  rule('os_compute_api:os-flavor-access:add_tenant_access', ADMIN, 'Give a project a private flavor.'),
  rule('os_compute_api:os-flavor-access:remove_tenant_access', ADMIN, 'Take a private flavor from a project.'),
  // Orrery differs: Nova lets any user manage their own keypairs, a reader too; here a reader only reads.
  rule('os_compute_api:os-keypairs:index', '(rule:admin_api) or user_id:%(user_id)s', 'List keypairs.'),
  rule('os_compute_api:os-keypairs:show', '(rule:admin_api) or user_id:%(user_id)s', 'Show a keypair.'),
  rule('os_compute_api:os-keypairs:create', '(rule:admin_api) or (role:member and user_id:%(user_id)s)', 'Create a keypair (Orrery: member; Nova: any user).'),
  rule('os_compute_api:os-keypairs:delete', '(rule:admin_api) or (role:member and user_id:%(user_id)s)', 'Delete a keypair (Orrery: member; Nova: any user).'),
  rule('os_compute_api:limits', ANY, 'Show rate and absolute limits.'),
  rule('os_compute_api:limits:other_project', ADMIN, "Show another project's limits."),
  rule('os_compute_api:os-availability-zone:list', ANY, 'List availability zones.'),
  rule('os_compute_api:os-availability-zone:detail', ADMIN, 'List availability zones with their hosts.'),
  rule('os_compute_api:os-quota-sets:show', READER, "Show a project's quotas."),
  rule('os_compute_api:os-quota-sets:detail', READER, "Show a project's quotas with usage."),
  rule('os_compute_api:os-quota-sets:defaults', ANY, 'Show the default quotas.'),
  rule('os_compute_api:os-quota-sets:update', ADMIN, "Update a project's quotas."),
  rule('os_compute_api:os-quota-sets:delete', ADMIN, "Revert a project's quotas to the defaults."),
  rule('os_compute_api:os-services:list', ADMIN, 'List services.'),
  rule('os_compute_api:os-services:update', ADMIN, 'Enable, disable or force down a service.'),
  rule('os_compute_api:os-services:delete', ADMIN, 'Delete a service.'),
  rule('os_compute_api:os-hypervisors:list', ADMIN, 'List hypervisors.'),
  rule('os_compute_api:os-hypervisors:list-detail', ADMIN, 'List hypervisors with details.'),
  rule('os_compute_api:os-hypervisors:statistics', ADMIN, 'Show hypervisor statistics.'),
  rule('os_compute_api:os-hypervisors:show', ADMIN, 'Show a hypervisor.'),
  rule('os_compute_api:os-hypervisors:uptime', ADMIN, "Show a hypervisor's uptime."),
  rule('os_compute_api:os-hypervisors:search', ADMIN, 'Search hypervisors by host name.'),
  rule('os_compute_api:os-hypervisors:servers', ADMIN, "List a hypervisor's servers."),
  rule('os_compute_api:os-aggregates:index', ADMIN, 'List aggregates.'),
  rule('os_compute_api:os-aggregates:create', ADMIN, 'Create an aggregate.'),
  rule('os_compute_api:os-aggregates:show', ADMIN, 'Show an aggregate.'),
  rule('os_compute_api:os-aggregates:update', ADMIN, 'Update an aggregate.'),
  rule('os_compute_api:os-aggregates:delete', ADMIN, 'Delete an aggregate.'),
  rule('os_compute_api:os-aggregates:add_host', ADMIN, 'Add a host to an aggregate.'),
  rule('os_compute_api:os-aggregates:remove_host', ADMIN, 'Remove a host from an aggregate.'),
  rule('os_compute_api:os-aggregates:set_metadata', ADMIN, "Set an aggregate's metadata."),
];
