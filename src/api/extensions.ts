import type { FastifyInstance } from 'fastify';
import { NotFound } from '../common/errors.js';
import { routeBoth } from './resource-kit.js';

/**
 * /extensions: Nova v2.1's list of the v2 extensions its API still carries, kept for old
 * clients. Orrery lists those whose APIs it serves, no more.
 */

const UPDATED = '2014-12-03T00:00:00Z';
const NAMESPACE = 'http://docs.openstack.org/compute/ext/fake_xml';

/** [alias, name, description] of each extension whose API Orrery serves. */
const EXTENSIONS: ReadonlyArray<readonly [string, string, string]> = [
  ['os-admin-actions', 'AdminActions', 'Enable admin-only server actions.'],
  ['os-aggregates', 'Aggregates', 'Admin-only aggregate administration.'],
  ['os-availability-zone', 'AvailabilityZone', '1. Add availability_zone to the Create Server API. 2. Add availability zones describing.'],
  ['os-extended-availability-zone', 'ExtendedAvailabilityZone', 'Extended Availability Zone support.'],
  ['OS-EXT-SRV-ATTR', 'ExtendedServerAttributes', 'Extended Server Attributes support.'],
  ['OS-EXT-STS', 'ExtendedStatus', 'Extended Status support.'],
  ['OS-FLV-DISABLED', 'FlavorDisabled', 'Support to show the disabled status of a flavor.'],
  ['OS-FLV-EXT-DATA', 'FlavorExtraData', 'Provide additional data for flavors.'],
  ['os-flavor-access', 'FlavorAccess', 'Flavor access support.'],
  ['os-flavor-extra-specs', 'FlavorExtraSpecs', 'Flavors extra specs support.'],
  ['os-flavor-manage', 'FlavorManage', 'Flavor create/delete API support.'],
  ['os-flavor-rxtx', 'FlavorRxtx', 'Support to show the rxtx status of a flavor.'],
  ['os-hosts', 'Hosts', 'Admin-only host administration.'],
  ['os-hypervisors', 'Hypervisors', 'Admin-only hypervisor administration.'],
  ['os-instance-actions', 'InstanceActions', 'View a log of actions and events taken on an instance.'],
  ['os-instance_usage_audit_log', 'OSInstanceUsageAuditLog', 'Admin-only Task Log Monitoring.'],
  ['os-keypairs', 'Keypairs', 'Keypair Support.'],
  ['os-quota-class-sets', 'QuotaClasses', 'Quota classes management support.'],
  ['os-quota-sets', 'Quotas', 'Quotas management support.'],
  ['os-server-diagnostics', 'ServerDiagnostics', 'Allow Admins to view server diagnostics through server action.'],
  ['OS-SRV-USG', 'ServerUsage', 'Adds launched_at and terminated_at on Servers.'],
  ['os-services', 'Services', 'Services support.'],
  ['os-simple-tenant-usage', 'SimpleTenantUsage', 'Simple tenant usage extension.'],
  ['os-used-limits', 'UsedLimits', 'Provide data on limited resources that are being used.'],
];

const view = ([alias, name, description]: readonly [string, string, string]): Record<string, unknown> => ({
  alias, description, links: [], name, namespace: NAMESPACE, updated: UPDATED,
});

const BY_ALIAS = new Map(EXTENSIONS.map((e) => [e[0], e]));

export function register(app: FastifyInstance): void {
  routeBoth(app, 'GET', '/extensions', { policy: 'os_compute_api:extensions' }, async () => ({ extensions: EXTENSIONS.map(view) }));

  routeBoth<{ Params: { alias: string } }>(app, 'GET', '/extensions/:alias', { policy: 'os_compute_api:extensions' }, async (req) => {
    const ext = BY_ALIAS.get(req.params.alias);
    if (!ext) throw new NotFound('Extension could not be found.');
    return { extension: view(ext) };
  });
}
