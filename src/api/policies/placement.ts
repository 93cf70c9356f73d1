import { ADMIN_CHECK, policyRule, type PolicyDefault } from '../../auth/policy-defaults.js';

/** The placement API's rules: Placement's names; every one admin-only, as Placement's defaults. */
const rule = (name: string, description: string): PolicyDefault => policyRule(name, ADMIN_CHECK, description);

export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('placement:resource_providers:list', 'List resource providers.'),
  rule('placement:resource_providers:show', 'Show a resource provider.'),
  rule('placement:resource_providers:inventories:list', "List a resource provider's inventories."),
  rule('placement:resource_providers:usages', "Show a resource provider's usages."),
  rule('placement:resource_providers:traits:list', "List a resource provider's traits."),
  rule('placement:resource_providers:aggregates:list', "List a resource provider's aggregates."),
  rule('placement:resource_providers:allocations:list', "List a resource provider's allocations."),
];
