import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { tokenHashOf } from '../../src/auth/tokens.js';
import { api, login, startTestCloud, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Token lifetime and scope on the real all-in-one: renewal keeps the parent's expiry, unscoped
 * tokens reach no project-scoped API, a role removal ends a token at once, and the tokens
 * table holds nothing that works as a token.
 */
describe('token lifetime and scope', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let memberRole: string;
  /** Every token this file was given, for the look at the table at the end. */
  const issued: string[] = [];

  const idUrl = (path: string): string => `${cloud.urls.identity}${path}`;

  async function authenticate(identity: unknown, scope?: unknown): Promise<{ status: number; token: string; body: any }> {
    const r = await api(null, 'POST', idUrl('/v3/auth/tokens'), { auth: { identity, scope } });
    const token = r.headers.get('x-subject-token') ?? '';
    if (token) issued.push(token);
    return { status: r.status, token, body: r.body };
  }
  const byPassword = (name: string, password: string) =>
    ({ methods: ['password'], password: { user: { name, domain: { id: 'default' }, password } } });
  const byToken = (id: string) => ({ methods: ['token'], token: { id } });
  const project = (id: string) => ({ project: { id } });

  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    issued.push(admin.token);
    const p = await api(admin, 'POST', idUrl('/v3/projects'), { project: { name: 'tl' } });
    const u = await api(admin, 'POST', idUrl('/v3/users'), { user: { name: 'tl-user', password: 'pw', default_project_id: p.body.project.id } });
    memberRole = (await api(admin, 'GET', idUrl('/v3/roles?name=member'))).body.roles[0].id;
    assert.equal((await api(admin, 'PUT', idUrl(`/v3/projects/${p.body.project.id}/users/${u.body.user.id}/roles/${memberRole}`))).status, 204);
    member = await login(cloud, 'tl-user', 'pw', 'tl');
    issued.push(member.token);
  });
  after(async () => cloud?.close());

  it('a token renewed with the token method expires with its parent, however often it is renewed', async () => {
    const parent = await authenticate(byPassword('tl-user', 'pw'), project(member.projectId));
    assert.equal(parent.status, 201);
    await new Promise((r) => setTimeout(r, 20)); // a fresh expiry would now be later
    const renewed = await authenticate(byToken(parent.token), project(member.projectId));
    assert.equal(renewed.status, 201);
    assert.equal(renewed.body.token.expires_at, parent.body.token.expires_at);
    assert.ok(renewed.body.token.issued_at > parent.body.token.issued_at);
    await new Promise((r) => setTimeout(r, 20));
    const unscoped = await authenticate(byToken(renewed.token), 'unscoped');
    assert.equal(unscoped.status, 201);
    assert.equal(unscoped.body.token.expires_at, parent.body.token.expires_at);
    const rescoped = await authenticate(byToken(unscoped.token), project(member.projectId));
    assert.equal(rescoped.body.token.expires_at, parent.body.token.expires_at);
    const validated = await api(member, 'GET', idUrl('/v3/auth/tokens'), undefined, { 'x-subject-token': rescoped.token });
    assert.equal(validated.status, 200);
    assert.equal(validated.body.token.expires_at, parent.body.token.expires_at);
  });

  it('re-scoping with a token still needs a role on the new project', async () => {
    const unscoped = await authenticate(byPassword('tl-user', 'pw'), 'unscoped');
    const r = await authenticate(byToken(unscoped.token), project(admin.projectId));
    assert.equal(r.status, 401);
    assert.equal(r.token, '');
  });

  it('an unscoped token gets 401 on every compute, image and placement route, and works where Keystone takes one', async () => {
    const unscoped = await authenticate(byPassword('tl-user', 'pw'), 'unscoped');
    assert.equal(unscoped.status, 201);
    assert.equal(unscoped.body.token.project, undefined);
    const who = { token: unscoped.token };
    const wrong: string[] = [];
    let checked = 0;
    for (const name of ['compute', 'image', 'placement', 'network'] as const) {
      for (const r of cloud.apps[name].routeTable) {
        if (r.public || r.method === 'HEAD' || r.method === 'OPTIONS') continue;
        const path = r.url.replace(':project_id', member.projectId).replace(/:(\w+)/g, 'x');
        const res = await api(who, r.method, `${cloud.urls[name]}${path}`, r.hasBody ? {} : undefined);
        checked++;
        if (res.status !== 401) wrong.push(`${name} ${r.method} ${path} → ${res.status}`);
      }
    }
    assert.ok(checked > 80, `only ${checked} routes`);
    assert.deepEqual(wrong, []);
    // A scoped token of the same user passes the same hook.
    assert.equal((await api(member, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 200);

    const projects = await api(who, 'GET', idUrl('/v3/auth/projects'));
    assert.equal(projects.status, 200);
    assert.deepEqual(projects.body.projects.map((p: { id: string }) => p.id), [member.projectId]);
    assert.equal((await api(who, 'GET', idUrl('/v3/auth/tokens'), undefined, { 'x-subject-token': unscoped.token })).status, 200);
    assert.equal((await api(who, 'GET', idUrl(`/v3/users/${member.userId}/projects`))).status, 200);
    assert.equal((await api(who, 'GET', idUrl(`/v3/users/${member.userId}`))).status, 200);
  });

  it('removing a user from a project stops their token there at once, on every API', async () => {
    const p = await api(admin, 'POST', idUrl('/v3/projects'), { project: { name: 'tl-leaving' } });
    const grant = idUrl(`/v3/projects/${p.body.project.id}/users/${member.userId}/roles/${memberRole}`);
    assert.equal((await api(admin, 'PUT', grant)).status, 204);
    const scoped = await authenticate(byPassword('tl-user', 'pw'), project(p.body.project.id));
    const unscoped = await authenticate(byPassword('tl-user', 'pw'), 'unscoped');
    const who = { token: scoped.token };
    assert.equal((await api(who, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 200);
    assert.equal((await api(who, 'GET', `${cloud.urls.image}/v2/images`)).status, 200);

    assert.equal((await api(admin, 'DELETE', grant)).status, 204);
    assert.equal((await api(who, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 401);
    assert.equal((await api(who, 'GET', `${cloud.urls.image}/v2/images`)).status, 401);
    assert.equal((await api(who, 'GET', idUrl('/v3/auth/projects'))).status, 401);
    assert.equal((await api(admin, 'GET', idUrl('/v3/auth/tokens'), undefined, { 'x-subject-token': scoped.token })).status, 404);
    // Their unscoped token still works on identity, but no longer lists the project, and reaches no server.
    const listed = await api({ token: unscoped.token }, 'GET', idUrl('/v3/auth/projects'));
    assert.deepEqual(listed.body.projects.map((x: { id: string }) => x.id), [member.projectId]);
    assert.equal((await api({ token: unscoped.token }, 'GET', `${cloud.urls.compute}/v2.1/servers`)).status, 401);
  });

  it('the tokens table holds no usable token', async () => {
    const rows = await cloud.db.selectFrom('tokens').selectAll().execute();
    assert.ok(rows.length >= issued.length, `${rows.length} rows for ${issued.length} tokens`);
    const stored = new Set(rows.flatMap((r) => Object.values(r).filter((v): v is string => typeof v === 'string')));
    for (const t of issued) {
      assert.ok(!stored.has(t), 'a token id is stored as it is');
      assert.ok(rows.some((r) => r.id === tokenHashOf(t)), 'a token has no row under its hash');
    }
    const wrong: string[] = [];
    for (const r of rows) {
      for (const candidate of [r.id, `gAAAA${r.id}`]) {
        for (const url of [idUrl('/v3/auth/projects'), `${cloud.urls.compute}/v2.1/servers`]) {
          const res = await api({ token: candidate }, 'GET', url);
          if (res.status !== 401) wrong.push(`${candidate} at ${url} → ${res.status}`);
        }
      }
    }
    assert.deepEqual(wrong, []);
  });
});
