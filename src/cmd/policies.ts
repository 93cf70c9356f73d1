import { PolicyEnforcer } from '../auth/policy/enforcer.js';
import { BASE_RULES, type PolicyDefault } from '../auth/policy-defaults.js';
import { POLICY_DEFAULTS as COMPUTE } from '../api/policies/compute.js';
import { POLICY_DEFAULTS as PLACEMENT } from '../api/policies/placement.js';
import { POLICY_DEFAULTS as RESOURCE_CLASSES } from '../api/policies/resource-classes.js';
import { POLICY_DEFAULTS as SERVERS_2X } from '../api/policies/server-routes-2x.js';
import { POLICY_DEFAULTS as RESOURCES_2X } from '../api/policies/resource-routes-2x.js';
import { POLICY_DEFAULTS as GROUPS_ADMIN } from '../api/policies/server-groups-and-admin.js';
import { POLICY_DEFAULTS as IMAGE } from '../image/policies.js';
import { IMPORT_POLICY_DEFAULTS as IMAGE_IMPORT } from '../image/import-policies.js';
import { POLICY_DEFAULTS as COMPUTE_NETWORK } from '../api/policies/network.js';
import { POLICY_DEFAULTS as IDENTITY } from '../identity/policies.js';
import { POLICY_DEFAULTS as NETWORK } from '../network/policies.js';
import { POLICY_DEFAULTS as NETWORK_L3 } from '../network/router-policies.js';
import { CATALOG_POLICY_DEFAULTS as CATALOG } from '../identity/catalog-routes.js';
import { CREDENTIAL_POLICY_DEFAULTS as CREDENTIALS } from '../identity/credential-routes.js';
import { POLICY_DEFAULTS as BAREMETAL } from '../baremetal/policies.js';

/**
 * Every rule default of the process, by API. An area that adds routes adds its table here with
 * one line: `import { POLICY_DEFAULTS as SERVER_GROUPS } from '../api/policies/server-groups.js';`
 * and `...SERVER_GROUPS` in its API's list. A route naming a rule that is in no table stops the
 * app at start (src/httpkit/authorize.ts).
 */
export const POLICY_DEFAULT_SETS: Readonly<Record<'compute' | 'placement' | 'image' | 'identity' | 'network' | 'baremetal', readonly PolicyDefault[]>> = {
  compute: [...COMPUTE, ...SERVERS_2X, ...RESOURCES_2X, ...GROUPS_ADMIN, ...COMPUTE_NETWORK],
  placement: [...PLACEMENT, ...RESOURCE_CLASSES],
  image: [...IMAGE, ...IMAGE_IMPORT],
  identity: [...IDENTITY, ...CATALOG, ...CREDENTIALS],
  network: [...NETWORK, ...NETWORK_L3],
  baremetal: BAREMETAL,
};

/** Nova's base rules first, then every API's table: what `orrery policy list` prints. */
export function allPolicyDefaults(): PolicyDefault[] {
  return [...BASE_RULES, ...Object.values(POLICY_DEFAULT_SETS).flat()];
}

/** An enforcer with every default and no overrides (tests and the apps' starting point). */
export function defaultEnforcer(): PolicyEnforcer {
  return new PolicyEnforcer(allPolicyDefaults());
}

/** oslo.policy's sample file: each rule's description and its default, commented out ("#name": "check"). */
export function policySample(defaults: readonly PolicyDefault[]): string {
  const lines = ['# Orrery policy file: uncomment a rule to override its default. Re-read on SIGHUP.', ''];
  for (const d of defaults) lines.push(`# ${d.description}`, `#${JSON.stringify(d.name)}: ${JSON.stringify(d.check)}`, '');
  return lines.join('\n');
}
