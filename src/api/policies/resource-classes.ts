import type { PolicyDefault } from '../../auth/policy-defaults.js';

/**
 * Placement's rule defaults (Zed) for the routes the `classes` work added to the Placement API:
 * resource classes, one inventory, one consumer's allocations. Placement's own base rule is
 * `admin_api` (role:admin), the same name as Nova's.
 */
export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  { name: 'placement:resource_classes:list', check: 'rule:admin_api', description: 'List resource classes.' },
  { name: 'placement:resource_classes:show', check: 'rule:admin_api', description: 'Show resource class.' },
  { name: 'placement:resource_classes:update', check: 'rule:admin_api', description: 'Update resource class (create a custom class, microversion 1.7).' },
  { name: 'placement:resource_providers:inventories:show', check: 'rule:admin_api', description: 'Show resource provider inventory.' },
  { name: 'placement:allocations:list', check: 'rule:admin_api', description: 'List allocations of a consumer.' },
];
