import type { PolicyDefault } from '../../auth/policy-defaults.js';

/**
 * Nova's (Zed) rule defaults of the servers API as the mv-servers branch names them: routes under
 * /servers and the actions of src/api/server-actions.ts (each ActionEntry names its rule).
 * The lead registers this table with the policy engine.
 */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  { name: 'os_compute_api:servers:show:flavor-extra-specs', check: 'rule:project_reader_or_admin', description: 'Show the extra specs of the flavor embedded in a server (2.47).' },
  { name: 'compute:servers:create:requested_destination', check: 'rule:admin_api', description: 'Create a server on a requested host or node (2.74).' },
  { name: 'os_compute_api:servers:create:attach_volume', check: 'rule:project_member_or_admin', description: 'Create a server with block device mappings.' },
  { name: 'os_compute_api:servers:create:attach_network', check: 'rule:project_member_or_admin', description: 'Create a server with requested networks.' },
  { name: 'os_compute_api:servers:create:trusted_certs', check: 'rule:project_member_or_admin', description: 'Create a server with trusted image certificates (2.63).' },
  { name: 'os_compute_api:servers:rebuild:trusted_certs', check: 'rule:project_member_or_admin', description: 'Rebuild a server with trusted image certificates (2.63).' },
  { name: 'os_compute_api:os-extended-server-attributes', check: 'rule:admin_api', description: 'Show OS-EXT-SRV-ATTR fields (hostname is for everyone from 2.90).' },
  { name: 'os_compute_api:os-multinic:add', check: 'rule:project_member_or_admin', description: 'addFixedIp (removed at 2.44).' },
  { name: 'os_compute_api:os-multinic:remove', check: 'rule:project_member_or_admin', description: 'removeFixedIp (removed at 2.44).' },
  { name: 'os_compute_api:os-floating-ips:add', check: 'rule:project_member_or_admin', description: 'addFloatingIp (removed at 2.44).' },
  { name: 'os_compute_api:os-floating-ips:remove', check: 'rule:project_member_or_admin', description: 'removeFloatingIp (removed at 2.44).' },
  { name: 'compute:server:topology:index', check: 'rule:project_reader_or_admin', description: 'Show the NUMA topology of a server (2.78).' },
  { name: 'compute:server:topology:host:index', check: 'rule:admin_api', description: 'Show the host NUMA ids in a server topology (2.78).' },
  { name: 'os_compute_api:os-migrations:index', check: 'rule:admin_api', description: 'List migrations (os-migrations; paging from 2.59).' },
  { name: 'os_compute_api:servers:migrations:index', check: 'rule:admin_api', description: 'List the in-progress migrations of a server (2.23).' },
  { name: 'os_compute_api:servers:migrations:show', check: 'rule:admin_api', description: 'Show one in-progress migration of a server (2.23).' },
  { name: 'os_compute_api:servers:migrations:force_complete', check: 'rule:admin_api', description: 'Force a running live migration of a server to complete (2.22).' },
  { name: 'os_compute_api:servers:migrations:delete', check: 'rule:admin_api', description: 'Abort a live migration of a server (2.24; queued or preparing ones from 2.65).' },
  { name: 'os_compute_api:servers:resize', check: 'rule:project_member_or_admin', description: 'Resize a server to another flavor.' },
  { name: 'os_compute_api:servers:confirm_resize', check: 'rule:project_member_or_admin', description: 'Confirm a resized (or cold-migrated) server.' },
  { name: 'os_compute_api:servers:revert_resize', check: 'rule:project_member_or_admin', description: 'Revert a resized (or cold-migrated) server.' },
  { name: 'os_compute_api:os-migrate-server:migrate', check: 'rule:admin_api', description: 'Cold-migrate a server to another host.' },
  { name: 'os_compute_api:os-migrate-server:migrate:host', check: 'rule:admin_api', description: 'Cold-migrate a server to a named host (2.56).' },
  { name: 'os_compute_api:os-evacuate', check: 'rule:admin_api', description: 'Evacuate a server from a failed host (force removed at 2.68).' },
  { name: 'os_compute_api:os-shelve:shelve', check: 'rule:project_member_or_admin', description: 'Shelve a server.' },
  { name: 'os_compute_api:os-shelve:shelve_offload', check: 'rule:admin_api', description: 'Offload a shelved server from its host.' },
  { name: 'os_compute_api:os-shelve:unshelve', check: 'rule:project_member_or_admin', description: 'Unshelve a shelved server (2.77 availability_zone).' },
  { name: 'os_compute_api:os-shelve:unshelve_to_host', check: 'rule:admin_api', description: 'Unshelve a shelved-offloaded server to a named host (2.91).' },
  { name: 'os_compute_api:os-migrate-server:migrate_live', check: 'rule:admin_api', description: 'Live-migrate a server (force removed at 2.68).' },
  { name: 'os_compute_api:os-volumes-attachments:index', check: 'rule:project_reader_or_admin', description: 'List the volume attachments of a server.' },
  { name: 'os_compute_api:os-volumes-attachments:show', check: 'rule:project_reader_or_admin', description: 'Show a volume attachment of a server.' },
  { name: 'os_compute_api:os-volumes-attachments:create', check: 'rule:project_member_or_admin', description: 'Attach a volume to a server (tag 2.49, delete_on_termination 2.79).' },
  { name: 'os_compute_api:os-volumes-attachments:delete', check: 'rule:project_member_or_admin', description: 'Detach a volume from a server.' },
];
