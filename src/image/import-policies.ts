import { ADMIN_CHECK as ADMIN, policyRule as rule, type PolicyDefault } from '../auth/policy-defaults.js';

/**
 * The rules of the image import, the tasks and the discovery calls (Glance's names). Staging and
 * importing an image are `modify_image` (image-routes' rule) as in Glance; the tasks API is
 * behind `tasks_api_access`, admin only by default.
 */
export const IMPORT_POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('tasks_api_access', ADMIN, 'Use the tasks API (list, show, create tasks).'),
  rule('stores_info_detail', `${ADMIN} or role:service`, 'Show the stores with their properties.'),
  // Glance answers these to any token without a rule; Orrery names one so every route has a rule.
  rule('get_info', '@', 'Orrery: read the import methods and the stores (Glance: no policy).'),
];
