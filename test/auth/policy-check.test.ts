import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { evaluate, MAX_CHECK_LENGTH, parseCheck, PolicySyntaxError, type Check } from '../../src/auth/policy/check.js';

/** oslo.policy's check language: what parses, what it means, and that no input crashes it. */

const creds = (roles: string[], extra: Record<string, unknown> = {}): Map<string, unknown> =>
  new Map<string, unknown>([['roles', roles], ['user_id', 'u1'], ['project_id', 'p1'], ['is_admin', roles.includes('admin')], ...Object.entries(extra)]);
const target = (fields: Record<string, unknown>): Map<string, unknown> => new Map(Object.entries(fields));

function check(text: string, c: Map<string, unknown>, t: Map<string, unknown> = target({ project_id: 'p1', user_id: 'u1' }), rules: Record<string, string> = {}): boolean {
  const parsed = new Map(Object.entries(rules).map(([k, v]) => [k, parseCheck(v)] as [string, Check]));
  return evaluate(parseCheck(text), { creds: c, target: t, rule: (n) => parsed.get(n) });
}

describe('policy check language', () => {
  it('role: compares names without case', () => {
    assert.equal(check('role:admin', creds(['Admin'])), true);
    assert.equal(check('role:admin', creds(['member'])), false);
  });

  it('project_id:%(project_id)s and user_id:%(user_id)s compare with the target', () => {
    assert.equal(check('project_id:%(project_id)s', creds(['member'])), true);
    assert.equal(check('project_id:%(project_id)s', creds(['member']), target({ project_id: 'p2' })), false);
    assert.equal(check('user_id:%(user_id)s', creds(['member']), target({ user_id: 'u2' })), false);
    // A target without the field fails the check, as oslo's KeyError does.
    assert.equal(check('project_id:%(project_id)s', creds(['member']), target({})), false);
  });

  it('is_admin:True reads the credential as Python prints it', () => {
    assert.equal(check('is_admin:True', creds(['admin'])), true);
    assert.equal(check('is_admin:True', creds(['member'])), false);
    assert.equal(check('is_admin:False', creds(['member'])), true);
  });

  it('and binds tighter than or; not and parentheses', () => {
    assert.equal(check('role:a or role:b and role:c', creds(['a'])), true);
    assert.equal(check('(role:a or role:b) and role:c', creds(['a'])), false);
    assert.equal(check('not role:a', creds(['a'])), false);
    assert.equal(check('not (role:a and role:b)', creds(['a'])), true);
    assert.equal(check('((role:a))', creds(['a'])), true);
  });

  it('@ always, ! never, the empty rule always', () => {
    assert.equal(check('@', creds([])), true);
    assert.equal(check('!', creds(['admin'])), false);
    assert.equal(check('', creds([])), true);
    assert.equal(check('   ', creds([])), true);
  });

  it('rule: refers to other rules; an unknown rule denies; a cycle ends denied', () => {
    assert.equal(check('rule:x', creds(['member']), undefined, { x: 'role:member' }), true);
    assert.equal(check('rule:nope', creds(['admin'])), false);
    assert.equal(check('rule:a', creds(['admin']), undefined, { a: 'rule:b', b: 'rule:a' }), false);
  });

  it("generic checks: a literal against the target, a credential field against a literal, and no prototype names", () => {
    assert.equal(check("'p1':%(project_id)s", creds([])), true);
    assert.equal(check("'p9':%(project_id)s", creds([])), false);
    assert.equal(check('project_id:p1', creds([])), true);
    assert.equal(check('constructor:%(x)s', creds([]), target({ x: 'function Object() { [native code] }' })), false);
    assert.equal(check('toString:x', creds([])), false);
    assert.equal(check('role:%(constructor)s', creds(['x']), target({})), false);
    assert.equal(check('token.project.id:p1', creds([], { token: { project: { id: 'p1' } } })), true);
    assert.equal(check('token.__proto__:x', creds([], { token: {} })), false);
  });

  it('refuses what does not parse, saying why', () => {
    for (const bad of ['role:a and', 'or role:a', '(role:a', 'role:a)', 'role', ':x', 'role:a role:b', 'not', '()']) {
      assert.throws(() => parseCheck(bad), PolicySyntaxError, bad);
    }
    assert.throws(() => parseCheck('x'.repeat(MAX_CHECK_LENGTH + 1)), /longer than/);
    assert.throws(() => parseCheck('('.repeat(100) + 'role:a' + ')'.repeat(100)), /nests deeper/);
    assert.throws(() => parseCheck('not '.repeat(100) + 'role:a'), /nests deeper/);
  });

  it('never crashes on arbitrary input: it parses or throws PolicySyntaxError, and a parsed check evaluates to a boolean', () => {
    const word = fc.oneof(fc.constantFrom('and', 'or', 'not', '(', ')', '@', '!', 'role:admin', 'rule:x', 'project_id:%(project_id)s', '%(', ':', "'a':b"), fc.string({ maxLength: 12 }));
    fc.assert(fc.property(fc.array(word, { maxLength: 40 }).map((ws) => ws.join(' ')), fc.string({ maxLength: 60 }), (text, raw) => {
      for (const input of [text, raw]) {
        let parsed: Check;
        try {
          parsed = parseCheck(input);
        } catch (err) {
          assert.ok(err instanceof PolicySyntaxError, String(err));
          continue;
        }
        const r = evaluate(parsed, { creds: creds(['member']), target: target({ project_id: 'p1' }), rule: (n) => (n === 'x' ? parsed : undefined) });
        assert.equal(typeof r, 'boolean');
      }
    }), { numRuns: 2000 });
  });
});
