import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { TokenService } from '../../src/auth/tokens.js';
import { Config } from '../../src/common/config.js';
import { migrate, openDatabase, type Db } from '../../src/db/connection.js';
import {
  deleteUser, grantRole, insertProject, insertRole, insertUser, projectsOfUser, revokeRole, setTags, tagsOf, tagsOfProjects,
} from '../../src/db/identity.js';
import { deleteAppCred, getAppCred, insertAppCred } from '../../src/db/identity-app-creds.js';
import { addGroupMember, deleteDomain, getDomain, insertDomain, insertGroup } from '../../src/db/identity-domains.js';
import { addGrant, effectiveDomainIdsOfUser, effectiveRolesOnDomain, effectiveRolesOnProject, removeGrant } from '../../src/db/identity-grants.js';
import { createPgDatabase, pgSkip, type TestPgDatabase } from '../support/postgres.js';

/** The repositories of migration 012 on SQLite and on PostgreSQL: effective roles, cascades, tags, credentials. */
for (const engine of ['sqlite', 'postgresql'] as const) {
  describe(`identity grants and credentials on ${engine}`, { skip: engine === 'postgresql' ? pgSkip : false }, () => {
    let pg: TestPgDatabase | undefined;
    let db: Db;
    const at = new Date().toISOString();
    const user = (id: string, domainId = 'default') => ({
      id, name: id, domain_id: domainId, password_hash: '', enabled: 1, default_project_id: null, email: null, description: null,
      created_at: at, failed_auth_count: 0, failed_auth_at: null,
    });
    const project = (id: string, domainId = 'default') => ({ id, name: id, domain_id: domainId, description: '', enabled: 1, is_domain: 0, parent_id: null, created_at: at });
    const names = (rows: Array<{ name: string }>) => rows.map((r) => r.name).sort();

    before(async () => {
      if (engine === 'postgresql') pg = await createPgDatabase();
      db = openDatabase(pg?.url ?? 'sqlite://');
      await migrate(db);
      for (const [id, name] of [['r-admin', 'admin'], ['r-member', 'member'], ['r-reader', 'reader']]) await insertRole(db, { id: id!, name: name!, domain_id: null });
    });
    after(async () => {
      await db?.destroy();
      await pg?.drop();
    });

    it('the Default domain is a row; roles come directly, by group, and inherited from the domain', async () => {
      assert.equal((await getDomain(db, 'default'))?.name, 'Default');
      await insertDomain(db, { id: 'd1', name: 'one', description: '', enabled: 1, extra: '{}', created_at: at });
      await insertProject(db, project('p1', 'd1'));
      await insertProject(db, project('p2', 'd1'));
      await insertUser(db, user('u1', 'd1'));
      await insertGroup(db, { id: 'g1', domain_id: 'd1', name: 'g', description: '', created_at: at });
      await grantRole(db, { user_id: 'u1', project_id: 'p1', role_id: 'r-reader' });
      await addGroupMember(db, 'g1', 'u1');
      await addGroupMember(db, 'g1', 'u1');
      await addGrant(db, { actor_type: 'group', actor_id: 'g1', target_type: 'project', target_id: 'p1', role_id: 'r-member', inherited: 0 });
      assert.deepEqual(names(await effectiveRolesOnProject(db, 'u1', 'p1')), ['member', 'reader']);
      assert.deepEqual(await effectiveRolesOnProject(db, 'u1', 'p2'), []);
      await addGrant(db, { actor_type: 'user', actor_id: 'u1', target_type: 'domain', target_id: 'd1', role_id: 'r-admin', inherited: 1 });
      assert.deepEqual(names(await effectiveRolesOnProject(db, 'u1', 'p2')), ['admin']);
      assert.deepEqual(await effectiveRolesOnDomain(db, 'u1', 'd1'), [], 'an inherited grant is not on the domain itself');
      await addGrant(db, { actor_type: 'group', actor_id: 'g1', target_type: 'domain', target_id: 'd1', role_id: 'r-reader', inherited: 0 });
      assert.deepEqual(names(await effectiveRolesOnDomain(db, 'u1', 'd1')), ['reader']);
      assert.deepEqual(await effectiveDomainIdsOfUser(db, 'u1'), ['d1']);
      assert.deepEqual((await projectsOfUser(db, 'u1')).map((p) => p.id).sort(), ['p1', 'p2']);
      assert.equal(await removeGrant(db, { actor_type: 'user', actor_id: 'u1', target_type: 'domain', target_id: 'd1', role_id: 'r-admin', inherited: 1 }), true);
      assert.equal(await removeGrant(db, { actor_type: 'user', actor_id: 'u1', target_type: 'domain', target_id: 'd1', role_id: 'r-admin', inherited: 1 }), false);
      assert.deepEqual((await projectsOfUser(db, 'u1')).map((p) => p.id), ['p1']);
    });

    it('tokens carry the effective roles and a credential\'s only; a lost role or deleted credential ends them', async () => {
      const tokens = new TokenService(db, new Config({}, {}), { cacheTtlMs: 0 });
      const t = await tokens.issue('u1', 'p1');
      assert.deepEqual(names(t.roles), ['member', 'reader']);
      await insertAppCred(db, {
        id: 'ac1', name: 'ac', user_id: 'u1', project_id: 'p1', secret_hash: 'x', description: null, expires_at: null, unrestricted: 0,
        roles: JSON.stringify(['r-member']), access_rules: null, created_at: at,
      });
      const ct = await tokens.issue('u1', 'p1', undefined, { appCredId: 'ac1' });
      assert.deepEqual(names(ct.roles), ['member']);
      assert.equal(ct.applicationCredential?.id, 'ac1');
      assert.equal((await tokens.validate(ct.tokenId)).applicationCredential?.unrestricted, false);
      const dt = await tokens.issue('u1', null, undefined, { domainId: 'd1' });
      assert.equal(dt.domainId, 'd1');
      assert.deepEqual(names(dt.roles), ['reader']);
      // The credential needs the member role its user holds through the group: without the grant, its tokens stop.
      await removeGrant(db, { actor_type: 'group', actor_id: 'g1', target_type: 'project', target_id: 'p1', role_id: 'r-member', inherited: 0 });
      await assert.rejects(tokens.validate(ct.tokenId), /authentication/);
      assert.deepEqual(names((await tokens.validate(t.tokenId)).roles), ['reader']);
      await addGrant(db, { actor_type: 'group', actor_id: 'g1', target_type: 'project', target_id: 'p1', role_id: 'r-member', inherited: 0 });
      assert.deepEqual(names((await tokens.validate(ct.tokenId)).roles), ['member']);
      assert.equal(await deleteAppCred(db, 'ac1'), true);
      await assert.rejects(tokens.validate(ct.tokenId), /authentication/);
    });

    it('revoking a user-on-project role deletes the user\'s credentials there; tags; deleting a user or domain cascades', async () => {
      await insertAppCred(db, {
        id: 'ac2', name: 'ac2', user_id: 'u1', project_id: 'p1', secret_hash: 'x', description: null, expires_at: null, unrestricted: 0,
        roles: JSON.stringify(['r-reader']), access_rules: null, created_at: at,
      });
      assert.equal(await revokeRole(db, { user_id: 'u1', project_id: 'p1', role_id: 'r-reader' }), true);
      assert.equal(await getAppCred(db, 'ac2'), null);
      await setTags(db, 'p1', ['b', 'a', 'a']);
      assert.deepEqual(await tagsOf(db, 'p1'), ['a', 'b']);
      assert.deepEqual([...(await tagsOfProjects(db, ['p1', 'p2'])).entries()], [['p1', ['a', 'b']]]);
      await insertUser(db, user('u2'));
      await addGroupMember(db, 'g1', 'u2');
      await deleteUser(db, 'u2');
      assert.deepEqual((await db.selectFrom('group_members').select('user_id').where('user_id', '=', 'u2').execute()), []);
      const gone = await deleteDomain(db, 'd1');
      assert.deepEqual(gone.userIds, ['u1']);
      assert.deepEqual(gone.projectIds.sort(), ['p1', 'p2']);
      for (const table of ['identity_groups', 'group_members', 'grants', 'project_tags', 'application_credentials'] as const) {
        assert.deepEqual(await db.selectFrom(table).selectAll().execute(), [], `${table} keeps rows of the deleted domain`);
      }
      assert.equal(await getDomain(db, 'd1'), null);
    });
  });
}
