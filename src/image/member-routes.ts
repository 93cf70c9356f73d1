import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance } from 'fastify';
import type { AuthContext } from '../auth/context.js';
import { Conflict, Forbidden, NotFound, OrreryError } from '../common/errors.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import { lockKey } from '../db/locks.js';
import { getMember, insertMember, listMembers, updateMemberStatus, deleteMember, type ImageRow, type MemberStatus } from '../db/images.js';
import { atomically } from '../db/transactions.js';
import { ownsImage, readableImage } from './access.js';
import type { ImageAppOptions } from './options.js';
import { MEMBER_STATUSES } from './schemas.js';
import { memberView } from './views.js';

const MAX_MEMBERS = 128;

const IdParams = Type.Object({ imageId: Type.String() });
const MemberParams = Type.Object({ imageId: Type.String(), memberId: Type.String() });
const CreateBody = Type.Object({ member: Type.String({ minLength: 1, maxLength: 255 }) });
const UpdateBody = Type.Object({ status: Type.Union(MEMBER_STATUSES.map((s) => Type.Literal(s))) });

/** Only shared images have members. */
async function sharedImage(db: Db, id: string, auth: AuthContext): Promise<ImageRow> {
  const row = await readableImage(db, id, auth);
  if (row.visibility !== 'shared') throw new Forbidden('Only shared images have members.');
  return row;
}

/**
 * Image members: the owner shares an image with other projects; each member accepts or
 * rejects it. A member sees (and may change) only its own membership.
 */
export function registerMemberRoutes(app: FastifyInstance, opts: ImageAppOptions): void {
  const { db } = opts;

  app.post<{ Params: Static<typeof IdParams>; Body: Static<typeof CreateBody> }>('/v2/images/:imageId/members', {
    config: { policy: 'add_member' }, schema: { params: IdParams, body: CreateBody },
  }, async (req) => {
    const memberId = req.body.member;
    return atomically(db, async (tx) => {
      await lockKey(tx, `image:${req.params.imageId}`); // counts members before adding one
      const row = await sharedImage(tx, req.params.imageId, req.auth);
      if (!ownsImage(row, req.auth)) throw new Forbidden('Only the owner of an image may add members.');
      if (await getMember(tx, row.id, memberId)) throw new Conflict(`Member ${memberId} already associated with image ${row.id}.`);
      if ((await listMembers(tx, row.id)).length >= MAX_MEMBERS) throw new OrreryError(413, 'overLimit', `Maximum number of image members exceeded: ${MAX_MEMBERS}`);
      const ts = now().toISOString();
      const member = { image_id: row.id, member_id: memberId, status: 'pending', created_at: ts, updated_at: ts };
      await insertMember(tx, member);
      return memberView(member);
    });
  });

  app.get<{ Params: Static<typeof IdParams> }>('/v2/images/:imageId/members', { config: { policy: 'get_members' }, schema: { params: IdParams } }, async (req) => {
    const row = await sharedImage(db, req.params.imageId, req.auth);
    const members = await listMembers(db, row.id);
    const visible = ownsImage(row, req.auth) ? members : members.filter((m) => m.member_id === req.auth.projectId);
    return { members: visible.map(memberView), schema: '/v2/schemas/members' };
  });

  /** A membership the caller may see: any for the owner, its own for a member. */
  async function memberOr404(imageId: string, memberId: string, auth: AuthContext) {
    const row = await sharedImage(db, imageId, auth);
    const member = await getMember(db, row.id, memberId);
    if (!member || (!ownsImage(row, auth) && memberId !== auth.projectId)) {
      throw new NotFound(`${memberId} is not a member of image ${imageId}`);
    }
    return { row, member };
  }

  app.get<{ Params: Static<typeof MemberParams> }>('/v2/images/:imageId/members/:memberId', { config: { policy: 'get_member' }, schema: { params: MemberParams } }, async (req) => {
    const { member } = await memberOr404(req.params.imageId, req.params.memberId, req.auth);
    return memberView(member);
  });

  app.put<{ Params: Static<typeof MemberParams>; Body: Static<typeof UpdateBody> }>('/v2/images/:imageId/members/:memberId', {
    config: { policy: 'modify_member' }, schema: { params: MemberParams, body: UpdateBody },
  }, async (req) => {
    const { member } = await memberOr404(req.params.imageId, req.params.memberId, req.auth);
    if (member.member_id !== req.auth.projectId && !req.auth.isAdmin) {
      throw new Forbidden("You are not permitted to modify 'status' on this image member.");
    }
    const ts = now().toISOString();
    await updateMemberStatus(db, member.image_id, member.member_id, req.body.status as MemberStatus, ts);
    return memberView({ ...member, status: req.body.status, updated_at: ts });
  });

  app.delete<{ Params: Static<typeof MemberParams> }>('/v2/images/:imageId/members/:memberId', { config: { policy: 'delete_member' }, schema: { params: MemberParams } }, async (req, reply) => {
    const { row, member } = await memberOr404(req.params.imageId, req.params.memberId, req.auth);
    if (!ownsImage(row, req.auth)) throw new Forbidden('Only the owner of an image may remove its members.');
    await deleteMember(db, member.image_id, member.member_id);
    reply.code(204).send();
  });
}
