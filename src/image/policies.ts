import { ADMIN_CHECK as ADMIN, MEMBER_CHECK as MEMBER, policyRule as rule, READER_CHECK as READER, type PolicyDefault } from '../auth/policy-defaults.js';

/**
 * The image API's rules: Glance's names (no prefix) and its secure-RBAC defaults: a project
 * reader reads, a project member writes, only admin publicizes. The image's owner is checked by
 * the handlers (another project's private image is a 404).
 */

export const POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('get_images', READER, 'List images.'),
  rule('get_image', READER, 'Show an image.'),
  rule('add_image', MEMBER, 'Create an image.'),
  rule('modify_image', MEMBER, 'Update an image (also its tags).'),
  rule('delete_image', MEMBER, 'Delete an image.'),
  rule('upload_image', MEMBER, "Upload an image's data."),
  rule('download_image', READER, "Download an image's data."),
  rule('publicize_image', ADMIN, 'Make an image public.'),
  rule('deactivate', MEMBER, 'Deactivate an image.'),
  rule('reactivate', MEMBER, 'Reactivate an image.'),
  rule('get_members', READER, "List an image's members."),
  rule('get_member', READER, 'Show an image member.'),
  rule('add_member', MEMBER, 'Share an image with a project.'),
  rule('modify_member', MEMBER, 'Accept or reject a shared image.'),
  rule('delete_member', MEMBER, 'Stop sharing an image with a project.'),
  // Glance answers its schemas to any token without a rule; Orrery names one so every route has a rule.
  rule('get_schema', '@', 'Orrery: read the image schemas (Glance: no policy).'),
];
