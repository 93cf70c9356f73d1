import { createHash } from 'node:crypto';
import { Type, type Static } from '@sinclair/typebox';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { policyRule as rule, type PolicyDefault } from '../auth/policy-defaults.js';
import { BadRequest, Conflict, Forbidden, NotFound } from '../common/errors.js';
import { newHexId, newUuid } from '../common/ids.js';
import { now } from '../common/time.js';
import type { Db } from '../db/connection.js';
import {
  countUserCredentials, deleteCredential, getCredential, insertCredential, listCredentials, updateCredential, type CredentialRow,
} from '../db/credentials.js';
import { getProject, getUser } from '../db/identity.js';
import { effectiveRolesOnProject } from '../db/identity-grants.js';
import { atomically } from '../db/transactions.js';
import { authorize } from '../httpkit/authorize.js';
import { CredentialKeys } from './credential-keys.js';
import type { IdentityAppOptions } from './options.js';
import { collection, v3Url } from './views.js';

/**
 * Keystone's credentials (`/v3/credentials`), the EC2 type among them: blobs stored encrypted
 * (credential-keys.ts), a user sees and changes its own, an admin all. The rules are Keystone's,
 * checked on the credential the URL names; one the caller may not see answers 403 whether it
 * exists or not, so that its existence is not told.
 */
const OWNER = 'user_id:%(target.credential.user_id)s';
const ADMIN_OR_OWNER = `rule:admin_required or ${OWNER}`;
export const CREDENTIAL_POLICY_DEFAULTS: readonly PolicyDefault[] = [
  rule('identity:get_credential', ADMIN_OR_OWNER, 'Show a credential.'),
  rule('identity:list_credentials', ADMIN_OR_OWNER, "List credentials (a user lists its own: it filters by its user_id)."),
  rule('identity:create_credential', ADMIN_OR_OWNER, 'Create a credential.'),
  rule('identity:update_credential', ADMIN_OR_OWNER, 'Update a credential.'),
  rule('identity:delete_credential', ADMIN_OR_OWNER, 'Delete a credential.'),
  // The OS-EC2 calls name the user in the URL: the credential's user is that one.
  rule('identity:ec2_get_credential', ADMIN_OR_OWNER, 'Show an EC2 credential (OS-EC2).'),
  rule('identity:ec2_list_credentials', ADMIN_OR_OWNER, "List a user's EC2 credentials (OS-EC2)."),
  rule('identity:ec2_create_credential', ADMIN_OR_OWNER, 'Create an EC2 credential (OS-EC2).'),
  rule('identity:ec2_delete_credential', ADMIN_OR_OWNER, 'Delete an EC2 credential (OS-EC2).'),
];

/** Keystone's `[credential] user_limit`. */
const USER_LIMIT = 500;
const BLOB_MAX = 65_535;
const LIST_MAX = 1000;

const ID = Type.String({ minLength: 1, maxLength: 64 });
const Fields = {
  blob: Type.String({ minLength: 1, maxLength: BLOB_MAX }),
  type: Type.String({ minLength: 1, maxLength: 255 }),
  user_id: ID,
  project_id: Type.Optional(Type.Union([ID, Type.Null()])),
};
const CreateBody = Type.Object({ credential: Type.Object(Fields, { additionalProperties: true }) });
const UpdateBody = Type.Object({
  credential: Type.Object({
    blob: Type.Optional(Fields.blob), type: Type.Optional(Fields.type), user_id: Type.Optional(ID), project_id: Fields.project_id,
  }, { additionalProperties: true, minProperties: 1 }),
});
const Params = Type.Object({ credentialId: ID });
const Ec2UserParams = Type.Object({ userId: ID });
const Ec2Params = Type.Object({ userId: ID, accessKey: Type.String({ minLength: 1, maxLength: 255 }) });
const Ec2CreateBody = Type.Object({ tenant_id: ID }, { additionalProperties: true });
const ListQuery = Type.Object({ user_id: Type.Optional(Type.String()), type: Type.Optional(Type.String()) }, { additionalProperties: true });

/** An EC2 blob: JSON with `access` (the credential's id is its sha256, as Keystone's) and `secret`. */
function ec2Access(blob: string): string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(blob);
  } catch {
    throw new BadRequest('Invalid blob in credential');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) throw new BadRequest('Invalid blob in credential');
  const access = (parsed as Record<string, unknown>).access;
  if (typeof access !== 'string' || access === '') {
    throw new BadRequest('Expecting to find access in credential. The server could not comply with the request since it is either malformed or otherwise incorrect. The client is assumed to be in error.');
  }
  return access;
}
const ec2Id = (access: string): string => createHash('sha256').update(access, 'utf8').digest('hex');
const isEc2 = (type: string): boolean => type.toLowerCase() === 'ec2';
const context = (id: string, userId: string): string => `${id}\0${userId}`;

export function registerCredentialRoutes(app: FastifyInstance, opts: IdentityAppOptions): void {
  const db: Db = opts.db;
  const keys = CredentialKeys.fromConfig(opts.config);
  const view = (req: FastifyRequest, c: CredentialRow): Record<string, unknown> => ({
    id: c.id, user_id: c.user_id, project_id: c.project_id, type: c.type,
    blob: keys.open({ ciphertext: c.encrypted_blob, keyHash: c.key_hash }, context(c.id, c.user_id)),
    links: { self: v3Url(req, `/credentials/${c.id}`) },
  });
  const check = (req: FastifyRequest, action: string, userId: unknown): void => {
    authorize(req, action, typeof userId === 'string' ? { 'target.credential.user_id': userId } : {});
  };
  /** The credential the URL names if the caller passes `action` on it; else 403 (non-admins) or 404. */
  const named = async (tx: Db, req: FastifyRequest<{ Params: Static<typeof Params> }>, action: string): Promise<CredentialRow> => {
    const c = await getCredential(tx, req.params.credentialId);
    check(req, action, c?.user_id);
    if (!c) throw new NotFound(`Could not find credential: ${req.params.credentialId}.`);
    return c;
  };
  const checkProject = async (tx: Db, projectId: string | null | undefined): Promise<void> => {
    if (projectId && !(await getProject(tx, projectId))) throw new NotFound(`Could not find project: ${projectId}.`);
  };

  app.get<{ Querystring: Static<typeof ListQuery> }>('/v3/credentials', {
    config: { policy: 'identity:list_credentials', policyInHandler: true }, schema: { querystring: ListQuery },
  }, async (req) => {
    // Keystone checks the list against the user it is filtered by; a user names itself.
    check(req, 'identity:list_credentials', req.query.user_id);
    const rows = await listCredentials(db, { user_id: req.query.user_id, type: req.query.type }, LIST_MAX);
    return collection(req, 'credentials', rows.map((c) => view(req, c)));
  });

  app.get<{ Params: Static<typeof Params> }>('/v3/credentials/:credentialId', {
    config: { policy: 'identity:get_credential', policyInHandler: true }, schema: { params: Params },
  }, async (req) => ({ credential: view(req, await named(db, req, 'identity:get_credential')) }));

  app.post<{ Body: Static<typeof CreateBody> }>('/v3/credentials', {
    config: { policy: 'identity:create_credential', policyInHandler: true }, schema: { body: CreateBody },
    // Keystone checks the rule on the credential asked for before it validates it.
    preValidation: async (req) => {
      const body = req.body as { credential?: { user_id?: unknown } } | undefined;
      check(req, 'identity:create_credential', body !== null && typeof body === 'object' ? body.credential?.user_id : undefined);
    },
  }, async (req, reply) => {
    const b = req.body.credential;
    const id = isEc2(b.type) ? ec2Id(ec2Access(b.blob)) : newHexId();
    if (isEc2(b.type) && !b.project_id) throw new BadRequest('Expecting to find project_id in credential: an ec2 credential belongs to a project.');
    const row = await atomically(db, async (tx) => {
      if (!(await getUser(tx, b.user_id))) throw new NotFound(`Could not find user: ${b.user_id}.`);
      await checkProject(tx, b.project_id);
      if (await countUserCredentials(tx, b.user_id) >= USER_LIMIT) {
        throw new Forbidden(`Unable to create additional credentials, maximum of ${USER_LIMIT} already exceeded for user.`);
      }
      if (await getCredential(tx, id)) throw new Conflict(`Conflict occurred attempting to store credential - Duplicate ID, ${id}.`);
      const sealed = keys.seal(b.blob, context(id, b.user_id));
      const c: CredentialRow = {
        id, user_id: b.user_id, project_id: b.project_id ?? null, type: b.type, encrypted_blob: sealed.ciphertext, key_hash: sealed.keyHash,
        extra: '{}', created_at: now().toISOString(),
      };
      await insertCredential(tx, c);
      return c;
    });
    reply.code(201);
    return { credential: view(req, row) };
  });

  app.patch<{ Params: Static<typeof Params>; Body: Static<typeof UpdateBody> }>('/v3/credentials/:credentialId', {
    config: { policy: 'identity:update_credential', policyInHandler: true }, schema: { params: Params, body: UpdateBody },
    // As for a create, the rule is checked (on the stored credential) before the body is validated.
    preValidation: async (req) => {
      const id = (req.params as { credentialId?: unknown }).credentialId;
      check(req, 'identity:update_credential', typeof id === 'string' ? (await getCredential(db, id))?.user_id : undefined);
    },
  }, async (req) => {
    const b = req.body.credential;
    const row = await atomically(db, async (tx) => {
      const c = await named(tx, req, 'identity:update_credential');
      const userId = b.user_id ?? c.user_id;
      // Giving a credential to someone else needs the rule on the new owner too.
      if (userId !== c.user_id) {
        check(req, 'identity:update_credential', userId);
        if (!(await getUser(tx, userId))) throw new NotFound(`Could not find user: ${userId}.`);
      }
      await checkProject(tx, b.project_id);
      const type = b.type ?? c.type;
      const blob = b.blob ?? keys.open({ ciphertext: c.encrypted_blob, keyHash: c.key_hash }, context(c.id, c.user_id));
      // An EC2 credential's id is the hash of its access key: the key cannot change under it.
      if (isEc2(type) && ec2Id(ec2Access(blob)) !== c.id) throw new BadRequest('Credential ID does not match the hash of the access key in the blob.');
      const projectId = b.project_id === undefined ? c.project_id : b.project_id;
      if (isEc2(type) && !projectId) throw new BadRequest('Expecting to find project_id in credential: an ec2 credential belongs to a project.');
      const sealed = keys.seal(blob, context(c.id, userId));
      const changes = { user_id: userId, project_id: projectId, type, encrypted_blob: sealed.ciphertext, key_hash: sealed.keyHash };
      await updateCredential(tx, c.id, changes);
      return { ...c, ...changes };
    });
    return { credential: view(req, row) };
  });

  app.delete<{ Params: Static<typeof Params> }>('/v3/credentials/:credentialId', {
    config: { policy: 'identity:delete_credential', policyInHandler: true }, schema: { params: Params },
  }, async (req, reply) => {
    await atomically(db, async (tx) => {
      const c = await named(tx, req, 'identity:delete_credential');
      await deleteCredential(tx, c.id);
    });
    reply.code(204).send();
  });

  registerEc2Routes(app, db, keys, check);
}

/**
 * Keystone's OS-EC2 calls (`openstack ec2 credentials …`): an access and secret key pair made by
 * the server for a user on a project it has a role on, kept as a credential of type ec2 (so
 * `/v3/credentials` shows it too), named in the URL by its access key.
 */
function registerEc2Routes(app: FastifyInstance, db: Db, keys: CredentialKeys, check: (req: FastifyRequest, action: string, userId: unknown) => void): void {
  type Blob = { access: string; secret: string; trust_id?: string | null };
  const view = (req: FastifyRequest, c: CredentialRow): Record<string, unknown> => {
    const blob = JSON.parse(keys.open({ ciphertext: c.encrypted_blob, keyHash: c.key_hash }, context(c.id, c.user_id))) as Blob;
    return {
      user_id: c.user_id, tenant_id: c.project_id, access: blob.access, secret: blob.secret, trust_id: blob.trust_id ?? null,
      links: { self: v3Url(req, `/users/${c.user_id}/credentials/OS-EC2/${encodeURIComponent(blob.access)}`) },
    };
  };
  const userParam = (req: FastifyRequest): unknown => (req.params as { userId?: unknown }).userId;
  const named = async (req: FastifyRequest<{ Params: Static<typeof Ec2Params> }>, action: string): Promise<CredentialRow> => {
    const c = await getCredential(db, ec2Id(req.params.accessKey));
    // One of another user (or not of this URL's user) is not told apart from none.
    check(req, action, c?.user_id);
    if (!c || !isEc2(c.type) || c.user_id !== req.params.userId) throw new NotFound(`Could not find credential: ${req.params.accessKey}.`);
    return c;
  };

  app.get<{ Params: Static<typeof Ec2UserParams> }>('/v3/users/:userId/credentials/OS-EC2', {
    config: { policy: 'identity:ec2_list_credentials', policyInHandler: true }, schema: { params: Ec2UserParams },
  }, async (req) => {
    check(req, 'identity:ec2_list_credentials', req.params.userId);
    if (!(await getUser(db, req.params.userId))) throw new NotFound(`Could not find user: ${req.params.userId}.`);
    const rows = (await listCredentials(db, { user_id: req.params.userId }, LIST_MAX)).filter((c) => isEc2(c.type));
    return collection(req, 'credentials', rows.map((c) => view(req, c)));
  });

  app.get<{ Params: Static<typeof Ec2Params> }>('/v3/users/:userId/credentials/OS-EC2/:accessKey', {
    config: { policy: 'identity:ec2_get_credential', policyInHandler: true }, schema: { params: Ec2Params },
  }, async (req) => ({ credential: view(req, await named(req, 'identity:ec2_get_credential')) }));

  app.post<{ Params: Static<typeof Ec2UserParams>; Body: Static<typeof Ec2CreateBody> }>('/v3/users/:userId/credentials/OS-EC2', {
    config: { policy: 'identity:ec2_create_credential', policyInHandler: true }, schema: { params: Ec2UserParams, body: Ec2CreateBody },
    preValidation: async (req) => { check(req, 'identity:ec2_create_credential', userParam(req)); },
  }, async (req, reply) => {
    const { userId } = req.params;
    const projectId = req.body.tenant_id;
    const access = newUuid().replaceAll('-', '');
    const blob: Blob = { access, secret: newUuid().replaceAll('-', ''), trust_id: null };
    const id = ec2Id(access);
    const row = await atomically(db, async (tx) => {
      if (!(await getUser(tx, userId))) throw new NotFound(`Could not find user: ${userId}.`);
      if (!(await getProject(tx, projectId))) throw new NotFound(`Could not find project: ${projectId}.`);
      // Keystone's check: EC2 keys act on a project, so the user must hold a role there (its own, a group's, inherited).
      if ((await effectiveRolesOnProject(tx, userId, projectId)).length === 0) throw new Forbidden(`User ${userId} has no access to project ${projectId}.`);
      if (await countUserCredentials(tx, userId) >= USER_LIMIT) {
        throw new Forbidden(`Unable to create additional credentials, maximum of ${USER_LIMIT} already exceeded for user.`);
      }
      const sealed = keys.seal(JSON.stringify(blob), context(id, userId));
      const c: CredentialRow = {
        id, user_id: userId, project_id: projectId, type: 'ec2', encrypted_blob: sealed.ciphertext, key_hash: sealed.keyHash,
        extra: '{}', created_at: now().toISOString(),
      };
      await insertCredential(tx, c);
      return c;
    });
    reply.code(201);
    return { credential: view(req, row) };
  });

  app.delete<{ Params: Static<typeof Ec2Params> }>('/v3/users/:userId/credentials/OS-EC2/:accessKey', {
    config: { policy: 'identity:ec2_delete_credential', policyInHandler: true }, schema: { params: Ec2Params },
  }, async (req, reply) => {
    const c = await named(req, 'identity:ec2_delete_credential');
    await deleteCredential(db, c.id);
    reply.code(204).send();
  });
}
