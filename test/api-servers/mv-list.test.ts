import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { NameMatcher, translatePythonRegex } from '../../src/api/name-regex.js';
import { OrreryError } from '../../src/common/errors.js';
import { activeServer, call, createServer, startHarness, type Harness } from './harness.js';

/** The server list from 2.38 to 2.93, and the name filter as a Python regular expression. */

function matches(pattern: string, names: string[]): string[] {
  const m = new NameMatcher(pattern);
  const keep = m.matches(names);
  return names.filter((_, i) => keep[i]);
}

function refused(pattern: string): boolean {
  try {
    translatePythonRegex(pattern);
    return false;
  } catch (err) {
    return err instanceof OrreryError && err.status === 400;
  }
}

describe('name filter: Python re.search semantics', () => {
  it('translates Python syntax: named groups, \\A \\Z, $ before a final newline, dot, a leading ] in a class, Unicode \\w', () => {
    assert.deepEqual(matches('(?P<w>ab)(?P=w)', ['abab', 'abba']), ['abab']);
    assert.deepEqual(matches('\\Aweb', ['web-1', 'a-web']), ['web-1']);
    assert.deepEqual(matches('1\\Z', ['web-1', 'web-1\n', 'web-10']), ['web-1']);
    assert.deepEqual(matches('1$', ['web-1', 'web-1\n', 'web-10']), ['web-1', 'web-1\n']);
    assert.deepEqual(matches('a.b', ['a\rb', 'a\nb']), ['a\rb']);
    assert.deepEqual(matches('[]x]', ['a]', 'x', 'y']), ['a]', 'x']);
    assert.deepEqual(matches('^\\w+$', ['sérveur', 'a b']), ['sérveur']);
    assert.deepEqual(matches('(?i)WEB', ['web', 'Web', 'db']), ['web', 'Web']);
    assert.deepEqual(matches('a{x', ['a{x', 'ax']), ['a{x']);
    assert.deepEqual(matches('ab(?#comment)c', ['abc']), ['abc']);
    assert.deepEqual(matches('Web', ['web', 'Web']), ['Web'], 'case-sensitive, as re.search');
  });

  it('refuses what Python refuses, and what it cannot express, with 400', () => {
    for (const p of ['(', '[a', '*a', 'a\\', '\\q', '\\N{DASH}', '(?i:a)', '(?x)a b', 'a*+', '(?>a)', '\\x4']) assert.ok(refused(p), p);
    for (const p of ['a|b', '[a-z]+', '\\d{2,}', '(?=a)a', '\\u00e9']) assert.ok(!refused(p), p);
  });

  it('stops catastrophic backtracking within the time budget with a 400', () => {
    const m = new NameMatcher('^(a+)+$');
    const started = Date.now();
    assert.throws(() => m.matches(['a'.repeat(40) + 'b']), (err: unknown) => err instanceof OrreryError && err.status === 400);
    assert.ok(Date.now() - started < 2000);
  });
});

describe('server list microversions', () => {
  let h: Harness;
  before(async () => {
    h = await startHarness({ quota: { instances: '100', cores: '200', ram: '1000000' } });
  });
  after(async () => h.close());

  const names = (res: { body: { servers: Array<{ name: string }> } }): string[] => res.body.servers.map((s) => s.name).sort();

  it('name: a bad pattern is a 400 at every version; regexes page across batches', async () => {
    for (const mv of ['2.1', '2.93']) {
      const bad = await call(h, h.member, 'GET', '/v2.1/servers?name=(', undefined, mv);
      assert.equal(bad.status, 400);
      assert.match(bad.body.badRequest.message, /is not a 'regex'/);
    }
    await createServer(h, h.member, { name: 'rx-alpha' });
    await createServer(h, h.member, { name: 'rx-beta' });
    await createServer(h, h.member, { name: 'rx-gamma' });
    assert.deepEqual(names(await call(h, h.member, 'GET', '/v2.1/servers?name=rx-(alpha|gamma)$')), ['rx-alpha', 'rx-gamma']);
    const page = await call(h, h.member, 'GET', '/v2.1/servers?name=^rx-&limit=2');
    assert.equal(page.body.servers.length, 2);
    assert.ok(page.body.servers_links);
  });

  it('2.38 invalid status: 400 from 2.38, an empty list at 2.37', async () => {
    const old = await call(h, h.member, 'GET', '/v2.1/servers?status=NOPE', undefined, '2.37');
    assert.equal(old.status, 200);
    assert.deepEqual(old.body.servers, []);
    const now = await call(h, h.member, 'GET', '/v2.1/servers?status=NOPE', undefined, '2.38');
    assert.equal(now.status, 400);
    assert.equal(now.body.badRequest.message, 'Invalid status value');
  });

  it('2.66 changes-before: filters from 2.66, ignored at 2.65; must not precede changes-since', async () => {
    const id = await createServer(h, h.member, { name: 'cb-one' });
    const past = '2000-01-01T00:00:00Z';
    const at266 = await call(h, h.member, 'GET', `/v2.1/servers?changes-before=${past}`, undefined, '2.66');
    assert.equal(at266.status, 200);
    assert.ok(!at266.body.servers.some((s: { id: string }) => s.id === id));
    const at265 = await call(h, h.member, 'GET', `/v2.1/servers?changes-before=${past}`, undefined, '2.65');
    assert.ok(at265.body.servers.some((s: { id: string }) => s.id === id));
    const crossed = await call(h, h.member, 'GET', `/v2.1/servers?changes-since=2020-01-01T00:00:00Z&changes-before=${past}`, undefined, '2.66');
    assert.equal(crossed.status, 400);
  });

  it('2.73 locked filter and sort key: from 2.73; at 2.72 the filter is ignored', async () => {
    const id = await activeServer(h, h.member, { name: 'locked-one' });
    assert.equal((await call(h, h.member, 'POST', `/v2.1/servers/${id}/action`, { lock: null })).status, 202);
    const at273 = await call(h, h.member, 'GET', '/v2.1/servers?locked=true&sort_key=locked', undefined, '2.73');
    assert.equal(at273.status, 200);
    assert.deepEqual(at273.body.servers.map((s: { id: string }) => s.id), [id]);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?locked=maybe', undefined, '2.73')).status, 400);
    const at272 = await call(h, h.member, 'GET', '/v2.1/servers?locked=true', undefined, '2.72');
    assert.ok(at272.body.servers.length > 1);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?sort_key=locked', undefined, '2.72')).status, 200, 'accepted and ignored');
  });

  it('2.75 strict query: an unknown parameter is a 400 from 2.75, ignored at 2.74', async () => {
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?bogus=1', undefined, '2.74')).status, 200);
    const strict = await call(h, h.member, 'GET', '/v2.1/servers/detail?bogus=1', undefined, '2.75');
    assert.equal(strict.status, 400);
    assert.match(strict.body.badRequest.message, /'bogus' was unexpected/);
    assert.equal((await call(h, h.member, 'GET', '/v2.1/servers?limit=1&locked=false', undefined, '2.75')).status, 200);
  });

  it('2.83 member filters: key_name, vm_state and friends work for members from 2.83, ignored at 2.82', async () => {
    const id = await activeServer(h, h.member, { name: 'vm-state-one' });
    await h.db.updateTable('instances').set({ vm_state: 'stopped', power_state: 4 }).where('uuid', '=', id).execute();
    const at283 = await call(h, h.member, 'GET', '/v2.1/servers?vm_state=stopped&power_state=4', undefined, '2.83');
    assert.deepEqual(at283.body.servers.map((s: { id: string }) => s.id), [id]);
    const at282 = await call(h, h.member, 'GET', '/v2.1/servers?vm_state=stopped', undefined, '2.82');
    assert.ok(at282.body.servers.length > 1);
    // admins had them before
    const admin = await call(h, h.admin, 'GET', `/v2.1/servers?vm_state=stopped&all_tenants=1`, undefined, '2.82');
    assert.deepEqual(admin.body.servers.map((s: { id: string }) => s.id), [id]);
  });
});
