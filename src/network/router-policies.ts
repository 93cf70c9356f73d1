import { ADMIN_CHECK as ADMIN, MEMBER_CHECK as MEMBER, policyRule as rule, READER_CHECK as READER, type PolicyDefault } from '../auth/policy-defaults.js';
import { tagRules } from './policies.js';

/**
 * The rules of routers, floating IPs and auto-allocated topology: Neutron's names and its
 * secure-RBAC defaults on Orrery's roles. Choosing the SNAT flag or the addresses of a gateway,
 * and a floating IP's address, is admin's (they are scarce, shared addresses); the rest is the
 * project member's. The target is the resource's project.
 */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('create_router', MEMBER, 'Create a router.'),
  rule('create_router:external_gateway_info', MEMBER, 'Create a router with an external gateway.'),
  rule('create_router:external_gateway_info:network_id', MEMBER, "Choose a router's external network at create."),
  rule('create_router:external_gateway_info:enable_snat', ADMIN, "Choose a router's SNAT flag at create."),
  rule('create_router:external_gateway_info:external_fixed_ips', ADMIN, "Choose a router's gateway addresses at create."),
  rule('get_router', READER, 'List or show routers.'),
  rule('update_router', MEMBER, 'Update a router.'),
  rule('update_router:external_gateway_info', MEMBER, "Set or clear a router's external gateway."),
  rule('update_router:external_gateway_info:network_id', MEMBER, "Choose a router's external network."),
  rule('update_router:external_gateway_info:enable_snat', ADMIN, "Change a router's SNAT flag."),
  rule('update_router:external_gateway_info:external_fixed_ips', ADMIN, "Choose a router's gateway addresses."),
  rule('delete_router', MEMBER, 'Delete a router.'),
  rule('add_router_interface', MEMBER, 'Attach a subnet or port to a router.'),
  rule('remove_router_interface', MEMBER, 'Detach a subnet or port from a router.'),
  rule('add_extraroutes', MEMBER, 'Add static routes to a router (extraroute-atomic).'),
  rule('remove_extraroutes', MEMBER, 'Remove static routes from a router (extraroute-atomic).'),
  rule('create_floatingip', MEMBER, 'Create a floating IP.'),
  rule('create_floatingip:floating_ip_address', ADMIN, 'Create a floating IP with a given address.'),
  rule('get_floatingip', READER, 'List or show floating IPs.'),
  rule('update_floatingip', MEMBER, 'Associate, disassociate or update a floating IP.'),
  rule('delete_floatingip', MEMBER, 'Delete a floating IP.'),
  rule('get_auto_allocated_topology', MEMBER, "Get (making it when missing) a project's auto-allocated network."),
  rule('delete_auto_allocated_topology', MEMBER, "Delete a project's auto-allocated network."),
  ...tagRules('routers'), ...tagRules('floatingips'),
];
