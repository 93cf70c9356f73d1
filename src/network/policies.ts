import { ADMIN_CHECK as ADMIN, MEMBER_CHECK as MEMBER, policyRule as rule, READER_CHECK as READER, type PolicyDefault } from '../auth/policy-defaults.js';

/**
 * The network API's rules: Neutron's names with its secure-RBAC defaults mapped onto the roles
 * Orrery has (admin, member, reader; project scope). A reader reads, a member writes in its
 * project, admin everything. The target of a write is the resource's project; of the attribute
 * rules of ports that Neutron gives the network's owner (fixed_ips:ip_address, mac_address,
 * device_owner network:*, port_security_enabled) the network's project. What another project's
 * caller cannot see is a 404 before any rule is asked (the repositories' visibility).
 */

/** Admin, or a service user (the compute service's and the agents' credentials). */
export const SERVICE_OR_ADMIN = 'rule:context_is_admin or role:service';

const crud = (one: string, member = MEMBER): PolicyDefault[] => [
  rule(`create_${one}`, member, `Create a ${one}.`),
  rule(`get_${one}`, READER, `List or show ${one}s.`),
  rule(`update_${one}`, member, `Update a ${one}.`),
  rule(`delete_${one}`, member, `Delete a ${one}.`),
];

/** Neutron's tag rules per collection (`create_networks_tags` …). */
export const tagRules = (collection: string): PolicyDefault[] => [
  rule(`get_${collection}_tags`, READER, `Read the tags of ${collection}.`),
  rule(`create_${collection}_tags`, MEMBER, `Add a tag to ${collection}.`),
  rule(`update_${collection}_tags`, MEMBER, `Replace the tags of ${collection}.`),
  rule(`delete_${collection}_tags`, MEMBER, `Remove tags of ${collection}.`),
];

const adminAttrs = (action: 'create' | 'update' | 'get', one: string, attrs: readonly string[], check = ADMIN): PolicyDefault[] =>
  attrs.map((a) => rule(`${action}_${one}:${a}`, check, `${action} the ${a} attribute of a ${one}.`));

const PROVIDER = ['provider:network_type', 'provider:physical_network', 'provider:segmentation_id'];
const BINDING = ['binding:host_id', 'binding:profile', 'binding:vif_type', 'binding:vif_details'];

export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  ...crud('network'),
  ...adminAttrs('create', 'network', ['shared', 'router:external', 'is_default', ...PROVIDER]),
  ...adminAttrs('update', 'network', ['shared', 'router:external', 'is_default', ...PROVIDER]),
  ...adminAttrs('get', 'network', PROVIDER),
  ...crud('subnet'),
  ...crud('port'),
  ...adminAttrs('create', 'port', ['fixed_ips:ip_address', 'mac_address', 'device_owner', 'port_security_enabled'], MEMBER),
  ...adminAttrs('update', 'port', ['fixed_ips:ip_address', 'device_owner', 'port_security_enabled'], MEMBER),
  rule('update_port:mac_address', ADMIN, 'Change the MAC address of a port.'),
  ...adminAttrs('create', 'port', ['binding:host_id', 'binding:profile'], SERVICE_OR_ADMIN),
  ...adminAttrs('update', 'port', ['binding:host_id', 'binding:profile'], SERVICE_OR_ADMIN),
  ...adminAttrs('get', 'port', BINDING, SERVICE_OR_ADMIN),
  ...crud('security_group'),
  ...crud('security_group_rule'),
  ...tagRules('networks'), ...tagRules('subnets'), ...tagRules('ports'), ...tagRules('security_groups'),
  rule('get_quota', READER, "Show a project's network quotas (one's own, or any for admin)."),
  rule('update_quota', ADMIN, "Set a project's network quotas."),
  rule('delete_quota', ADMIN, "Reset a project's network quotas to the defaults."),
  rule('get_agent', ADMIN, 'List or show network agents.'),
  rule('update_agent', ADMIN, 'Update a network agent (admin_state_up, description).'),
  rule('delete_agent', ADMIN, 'Delete a network agent.'),
  rule('create_agent_report', SERVICE_OR_ADMIN, "An agent's heartbeat and device report; answers its host's desired state."),
  rule('get_extension', '@', 'List or show the API extensions (Orrery names a rule so every route has one).'),
];
