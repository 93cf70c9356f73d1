import type { PolicyDefault } from '../../auth/policy-defaults.js';

/**
 * Policy defaults (Nova Zed's) of the compute resources beside servers that microversions
 * 2.38–2.93 brought (usage, audit log, os-hosts, quota classes, image proxy, …); each route
 * names its rule with `policy:`.
 */
const ADMIN = 'rule:context_is_admin';
const READER = 'rule:project_reader_or_admin';
const MEMBER = 'rule:project_member_or_admin';

export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  { name: 'compute:aggregates:images', check: ADMIN, description: 'Request image caching for an aggregate (2.81).' },
  { name: 'os_compute_api:os-simple-tenant-usage:list', check: ADMIN, description: 'List per tenant usage statistics for all tenants.' },
  { name: 'os_compute_api:os-simple-tenant-usage:show', check: READER, description: 'Show usage statistics for a specific tenant.' },
  { name: 'os_compute_api:os-instance-usage-audit-log:list', check: ADMIN, description: 'List all usage audits.' },
  { name: 'os_compute_api:os-instance-usage-audit-log:show', check: ADMIN, description: 'List all usage audits occurred before a specified time for all servers on all compute hosts.' },
  { name: 'os_compute_api:os-hosts:list', check: ADMIN, description: 'List physical hosts (until 2.42).' },
  { name: 'os_compute_api:os-hosts:show', check: ADMIN, description: 'Show physical host details (until 2.42).' },
  { name: 'os_compute_api:os-hosts:update', check: ADMIN, description: 'Update physical host properties (until 2.42).' },
  { name: 'os_compute_api:os-hosts:reboot', check: ADMIN, description: 'Reboot physical host (until 2.42).' },
  { name: 'os_compute_api:os-hosts:shutdown', check: ADMIN, description: 'Shutdown physical host (until 2.42).' },
  { name: 'os_compute_api:os-hosts:start', check: ADMIN, description: 'Start physical host (until 2.42).' },
  { name: 'os_compute_api:extensions', check: '@', description: 'List available extensions and show information for an extension.' },
  { name: 'os_compute_api:os-quota-class-sets:show', check: ADMIN, description: 'List quotas for specific quota classes.' },
  { name: 'os_compute_api:os-quota-class-sets:update', check: ADMIN, description: 'Update quotas for specific quota class.' },
  // Nova's image proxy has no rule of its own: the image API decides with the user's token.
  // These names let an operator close the proxy; by default it is open to any token.
  // Nova names no rule for its image proxy (the image API decides); Orrery's names keep a reader read-only here too.
  { name: 'os_compute_api:image-proxy', check: READER, description: 'Read images through the proxy (/images, until 2.35); the image API checks its own policy as well.' },
  { name: 'os_compute_api:image-proxy:delete', check: MEMBER, description: 'Delete an image through the proxy (until 2.35).' },
  { name: 'os_compute_api:image-metadata', check: READER, description: 'Read image metadata through the proxy (until 2.35).' },
  { name: 'os_compute_api:image-metadata:update', check: MEMBER, description: 'Set, update or delete image metadata through the proxy (until 2.35).' },
];
