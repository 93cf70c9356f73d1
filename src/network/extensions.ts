import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { notFound } from './common.js';

/**
 * The API extensions this service implements: the one list `GET /v2.0/extensions` answers
 * (clients such as openstacksdk and the CLI decide what to offer from it, so it names exactly
 * what exists). A module that implements an extension appends its entry here (routers,
 * floating IPs, auto-allocated-topology…).
 */

export interface Extension {
  alias: string;
  name: string;
  description: string;
}

const ext = (alias: string, name: string, description: string): Extension => ({ alias, name, description });

export const EXTENSIONS: Extension[] = [
  ext('agent', 'agent', 'The agent management extension.'),
  ext('allowed-address-pairs', 'Allowed Address Pairs', 'Provides allowed address pairs'),
  ext('binding', 'Port Binding', 'Expose port bindings of a virtual port to external application'),
  ext('external-net', 'Neutron external network', 'Adds external network attribute to network resource.'),
  ext('filter-validation', 'Filter parameters validation', 'Provides validation on filtering parameters.'),
  ext('net-mtu', 'Network MTU', 'Provides MTU attribute for a network resource.'),
  ext('network_availability_zone', 'Network Availability Zone', 'Availability zone support for network.'),
  ext('pagination', 'Pagination support', 'Extension that indicates that pagination is enabled.'),
  ext('port-security', 'Port Security', 'Provides port security'),
  ext('project-id', 'project_id field enabled', 'Extension that indicates that project_id field is enabled.'),
  ext('provider', 'Provider Network', 'Expose mapping of virtual networks to physical networks'),
  ext('quotas', 'Quota management support', 'Expose functions for quotas management per tenant'),
  ext('quota_details', 'Quota details management support', 'Expose functions for quotas usage statistics per project'),
  ext('revision-if-match', 'If-Match constraints based on revision_number', "Extension indicating that If-Match based on revision_number is supported."),
  ext('revision-number', 'Resource revision numbers', 'This extension will display the revision number of neutron resources.'),
  ext('security-group', 'security-group', 'The security groups extension.'),
  ext('sorting', 'Sorting support', 'Extension that indicates that sorting is enabled.'),
  ext('standard-attr-description', 'standard-attr-description', 'Extension to add descriptions to standard attributes'),
  ext('standard-attr-revisions', 'Resource revision numbers', 'This extension will display the revision number of neutron resources.'),
  ext('standard-attr-tag', 'Tag support for resources with standard attribute: subnet, port, network, security_group', 'Enables to set tag on resources with standard attribute.'),
  ext('standard-attr-timestamp', 'Resource timestamps', 'Adds created_at and updated_at fields to all Neutron resources that have Neutron standard attributes.'),
  ext('stateful-security-group', 'Stateful security group', 'Indicates if the security group is stateful or not'),
  // L3 (src/network/router-*.ts, floating-ip-*.ts, auto-allocated-*.ts)
  ext('router', 'Neutron L3 Router', 'Router abstraction for basic L3 forwarding between L2 Neutron networks and access to external networks via a NAT gateway.'),
  ext('ext-gw-mode', 'Neutron L3 Configurable external gateway mode', 'Extension of the router abstraction for specifying whether SNAT should occur on the external gateway'),
  ext('extraroute', 'Neutron Extra Route', 'Extra routes configuration for L3 router'),
  ext('extraroute-atomic', 'Atomically add/remove extra routes', 'Edit extra routes of a router on server side by atomically adding/removing extra routes'),
  ext('auto-allocated-topology', 'Auto Allocated Topology Services', 'Auto Allocated Topology Services.'),
];

const view = (e: Extension): Record<string, unknown> => ({ alias: e.alias, name: e.name, description: e.description, updated: '2013-01-01T10:00:00-00:00', links: [] });

export function registerExtensionRoutes(app: FastifyInstance): void {
  app.get('/v2.0/extensions', { config: { policy: 'get_extension' } }, async () =>
    ({ extensions: [...EXTENSIONS].sort((a, b) => (a.alias < b.alias ? -1 : 1)).map(view) }));
  app.get<{ Params: { alias: string } }>('/v2.0/extensions/:alias', {
    config: { policy: 'get_extension' }, schema: { params: Type.Object({ alias: Type.String({ maxLength: 255 }) }) },
  }, async (req) => {
    const e = EXTENSIONS.find((x) => x.alias === req.params.alias);
    if (!e) throw notFound('ExtensionNotFound', `Extension with alias ${req.params.alias} does not exist`);
    return { extension: view(e) };
  });
}
