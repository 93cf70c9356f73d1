import type { PolicyDefault } from '../../auth/policy-defaults.js';

/**
 * Nova's (Zed) rule defaults of the servers API as the mv-servers branch names them: routes under
 * /servers and the actions of src/api/server-actions.ts (each ActionEntry names its rule).
 * The lead registers this table with the policy engine.
 */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  { name: 'os_compute_api:servers:index', check: 'rule:project_reader_or_admin', description: 'List servers.' },
  { name: 'os_compute_api:servers:detail', check: 'rule:project_reader_or_admin', description: 'List servers with details.' },
  { name: 'os_compute_api:servers:index:get_all_tenants', check: 'rule:admin_api', description: 'List servers of all projects.' },
  { name: 'os_compute_api:servers:detail:get_all_tenants', check: 'rule:admin_api', description: 'List servers of all projects, with details.' },
  { name: 'os_compute_api:servers:allow_all_filters', check: 'rule:admin_api', description: 'Use every filter of the server list (members have the list of their microversion).' },
  { name: 'os_compute_api:servers:show', check: 'rule:project_reader_or_admin', description: 'Show a server.' },
  { name: 'os_compute_api:servers:show:flavor-extra-specs', check: 'rule:project_reader_or_admin', description: 'Show the extra specs of the flavor embedded in a server (2.47).' },
  { name: 'os_compute_api:servers:show:host_status', check: 'rule:admin_api', description: 'Show host_status in a server (2.16).' },
  { name: 'os_compute_api:servers:create', check: 'rule:project_member_or_admin', description: 'Create a server.' },
  { name: 'os_compute_api:servers:create:forced_host', check: 'rule:admin_api', description: 'Create a server on a named host with availability_zone "zone:host:node".' },
  { name: 'compute:servers:create:requested_destination', check: 'rule:admin_api', description: 'Create a server on a requested host or node (2.74).' },
  { name: 'os_compute_api:servers:create:attach_volume', check: 'rule:project_member_or_admin', description: 'Create a server with block device mappings.' },
  { name: 'os_compute_api:servers:create:attach_network', check: 'rule:project_member_or_admin', description: 'Create a server with requested networks.' },
  { name: 'os_compute_api:servers:create:trusted_certs', check: 'rule:project_member_or_admin', description: 'Create a server with trusted image certificates (2.63).' },
  { name: 'os_compute_api:servers:update', check: 'rule:project_member_or_admin', description: 'Update a server.' },
  { name: 'os_compute_api:servers:delete', check: 'rule:project_member_or_admin', description: 'Delete a server.' },
  { name: 'os_compute_api:servers:start', check: 'rule:project_member_or_admin', description: 'Start a server.' },
  { name: 'os_compute_api:servers:stop', check: 'rule:project_member_or_admin', description: 'Stop a server.' },
  { name: 'os_compute_api:servers:reboot', check: 'rule:project_member_or_admin', description: 'Reboot a server.' },
  { name: 'os_compute_api:servers:rebuild', check: 'rule:project_member_or_admin', description: 'Rebuild a server.' },
  { name: 'os_compute_api:servers:rebuild:trusted_certs', check: 'rule:project_member_or_admin', description: 'Rebuild a server with trusted image certificates (2.63).' },
  { name: 'os_compute_api:servers:create_image', check: 'rule:project_member_or_admin', description: 'Create an image from a server.' },
  { name: 'os_compute_api:os-pause-server:pause', check: 'rule:project_member_or_admin', description: 'Pause a server.' },
  { name: 'os_compute_api:os-pause-server:unpause', check: 'rule:project_member_or_admin', description: 'Unpause a server.' },
  { name: 'os_compute_api:os-suspend-server:suspend', check: 'rule:project_member_or_admin', description: 'Suspend a server.' },
  { name: 'os_compute_api:os-suspend-server:resume', check: 'rule:project_member_or_admin', description: 'Resume a server.' },
  { name: 'os_compute_api:os-lock-server:lock', check: 'rule:project_member_or_admin', description: 'Lock a server (with a reason from 2.73).' },
  { name: 'os_compute_api:os-lock-server:unlock', check: 'rule:project_member_or_admin', description: 'Unlock a server.' },
  { name: 'os_compute_api:os-lock-server:unlock:unlock_override', check: 'rule:admin_api', description: 'Unlock a server locked by someone else.' },
  { name: 'os_compute_api:os-console-output', check: 'rule:project_member_or_admin', description: 'Show the console output of a server.' },
  { name: 'os_compute_api:os-extended-server-attributes', check: 'rule:admin_api', description: 'Show OS-EXT-SRV-ATTR fields (hostname is for everyone from 2.90).' },
  { name: 'os_compute_api:os-multinic:add', check: 'rule:project_member_or_admin', description: 'addFixedIp (removed at 2.44).' },
  { name: 'os_compute_api:os-multinic:remove', check: 'rule:project_member_or_admin', description: 'removeFixedIp (removed at 2.44).' },
  { name: 'os_compute_api:os-floating-ips:add', check: 'rule:project_member_or_admin', description: 'addFloatingIp (removed at 2.44).' },
  { name: 'os_compute_api:os-floating-ips:remove', check: 'rule:project_member_or_admin', description: 'removeFloatingIp (removed at 2.44).' },
  { name: 'compute:server:topology:index', check: 'rule:project_reader_or_admin', description: 'Show the NUMA topology of a server (2.78).' },
  { name: 'compute:server:topology:host:index', check: 'rule:admin_api', description: 'Show the host NUMA ids in a server topology (2.78).' },
];
