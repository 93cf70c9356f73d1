import { ADMIN_CHECK as ADMIN, policyRule as rule, type PolicyDefault } from '../auth/policy-defaults.js';

/**
 * The Bare Metal API's rules: Ironic's names, admin only (Ironic's project-scoped owner and
 * lessee rules are not carried: a node here belongs to the cloud, not to a project).
 */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('baremetal:node:get', ADMIN, 'Show a node.'),
  rule('baremetal:node:list', ADMIN, 'List nodes.'),
  rule('baremetal:node:list_all', ADMIN, 'List nodes with their details.'),
  rule('baremetal:node:create', ADMIN, 'Enrol a node.'),
  rule('baremetal:node:update', ADMIN, 'Change a node (JSON patch).'),
  rule('baremetal:node:delete', ADMIN, 'Remove a node.'),
  rule('baremetal:node:get_states', ADMIN, "Show a node's power and provision states."),
  rule('baremetal:node:set_power_state', ADMIN, 'Power a node on, off or reboot it.'),
  rule('baremetal:node:set_provision_state', ADMIN, "Change a node's provision state (manage, provide, deploy, undeploy, clean)."),
  rule('baremetal:node:set_maintenance', ADMIN, 'Put a node in maintenance.'),
  rule('baremetal:node:clear_maintenance', ADMIN, 'Take a node out of maintenance.'),
  rule('baremetal:node:get_boot_device', ADMIN, "Show a node's boot device."),
  rule('baremetal:node:set_boot_device', ADMIN, "Set a node's boot device."),
  rule('baremetal:node:validate', ADMIN, "Check a node's driver interfaces."),
  rule('baremetal:port:get', ADMIN, 'Show a port.'),
  rule('baremetal:port:list', ADMIN, 'List ports.'),
  rule('baremetal:port:list_all', ADMIN, 'List ports with their details.'),
  rule('baremetal:port:create', ADMIN, 'Create a port.'),
  rule('baremetal:port:update', ADMIN, 'Change a port (JSON patch).'),
  rule('baremetal:port:delete', ADMIN, 'Remove a port.'),
  rule('baremetal:driver:get', ADMIN, 'List and show drivers.'),
];
