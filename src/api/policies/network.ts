import type { PolicyDefault } from '../../auth/policy-defaults.js';

/** Nova's (Zed) rule defaults of the compute API's network routes: os-interface and the deprecated network proxies. */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  { name: 'os_compute_api:os-attach-interfaces:list', check: 'rule:project_reader_or_admin', description: 'List the port interfaces attached to a server.' },
  { name: 'os_compute_api:os-attach-interfaces:show', check: 'rule:project_reader_or_admin', description: 'Show a port interface of a server.' },
  { name: 'os_compute_api:os-attach-interfaces:create', check: 'rule:project_member_or_admin', description: 'Attach a port interface to a server.' },
  { name: 'os_compute_api:os-attach-interfaces:delete', check: 'rule:project_member_or_admin', description: 'Detach a port interface from a server.' },
  { name: 'os_compute_api:os-floating-ips:list', check: 'rule:project_reader_or_admin', description: 'List floating IPs (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-floating-ips:show', check: 'rule:project_reader_or_admin', description: 'Show a floating IP (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-floating-ips:create', check: 'rule:project_member_or_admin', description: 'Create a floating IP (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-floating-ips:delete', check: 'rule:project_member_or_admin', description: 'Delete a floating IP (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-floating-ip-pools', check: 'rule:project_reader_or_admin', description: 'List floating IP pools (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-networks:list', check: 'rule:project_reader_or_admin', description: 'List networks (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-networks:show', check: 'rule:project_reader_or_admin', description: 'Show a network (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-tenant-networks:list', check: 'rule:project_reader_or_admin', description: 'List project networks (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-tenant-networks:show', check: 'rule:project_reader_or_admin', description: 'Show a project network (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:get', check: 'rule:project_reader_or_admin', description: 'List security groups (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:show', check: 'rule:project_reader_or_admin', description: 'Show a security group (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:create', check: 'rule:project_member_or_admin', description: 'Create a security group (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:update', check: 'rule:project_member_or_admin', description: 'Update a security group (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:delete', check: 'rule:project_member_or_admin', description: 'Delete a security group (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:rule:create', check: 'rule:project_member_or_admin', description: 'Create a security group rule (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:rule:delete', check: 'rule:project_member_or_admin', description: 'Delete a security group rule (proxy, removed at 2.36).' },
  { name: 'os_compute_api:os-security-groups:list', check: 'rule:project_reader_or_admin', description: 'List the security groups of a server.' },
];
