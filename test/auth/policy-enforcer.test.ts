import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { applyPolicyFile, parsePolicyText } from '../../src/auth/policy/file.js';
import { PolicySyntaxError } from '../../src/auth/policy/check.js';
import { refusalMessage } from '../../src/auth/policy/enforcer.js';
import { allPolicyDefaults, defaultEnforcer, policySample } from '../../src/cmd/policies.js';
import { credentialsWith } from '../support/route-fixtures.js';

const own = new Map<string, unknown>([['project_id', 'p'], ['user_id', 'u']]);
const other = new Map<string, unknown>([['project_id', 'q'], ['user_id', 'v']]);

describe('policy enforcer and policy file', () => {
  it('the defaults: reader reads, member writes, admin everything, and only on the own project', () => {
    const e = defaultEnforcer();
    const reader = credentialsWith(['reader']);
    const member = credentialsWith(['member', 'reader']);
    const admin = credentialsWith(['admin', 'member', 'reader']);
    assert.equal(e.enforce('os_compute_api:servers:index', reader, own), true);
    assert.equal(e.enforce('os_compute_api:servers:create', reader, own), false);
    assert.equal(e.enforce('os_compute_api:servers:create', member, own), true);
    assert.equal(e.enforce('os_compute_api:servers:delete', member, other), false);
    assert.equal(e.enforce('os_compute_api:servers:delete', admin, other), true);
    assert.equal(e.enforce('os_compute_api:os-hypervisors:list', member, own), false);
    assert.equal(e.enforce('os_compute_api:os-hypervisors:list', admin, own), true);
    assert.equal(e.enforce('add_image', reader, own), false);
    assert.equal(e.enforce('no-such-rule', admin, own), false);
  });

  it('every default parses, and no rule is defined twice', () => {
    const names = allPolicyDefaults().map((d) => d.name);
    assert.equal(new Set(names).size, names.length);
    assert.doesNotThrow(() => defaultEnforcer());
  });

  it('reads YAML and JSON, and overrides replace defaults as a whole set', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-policy-'));
    try {
      const e = defaultEnforcer();
      const member = credentialsWith(['member', 'reader']);
      const path = join(dir, 'policy.yaml');
      writeFileSync(path, '# members may list hypervisors\n"os_compute_api:os-hypervisors:list": "role:member"\n');
      assert.equal(await applyPolicyFile(e, path), 1);
      assert.equal(e.enforce('os_compute_api:os-hypervisors:list', member, own), true);
      writeFileSync(path, JSON.stringify({ 'os_compute_api:servers:create': '!', 'custom': 'role:member' }));
      assert.equal(await applyPolicyFile(e, path), 2);
      assert.equal(e.enforce('os_compute_api:servers:create', member, own), false);
      assert.equal(e.enforce('os_compute_api:os-hypervisors:list', member, own), false, 'the earlier override is gone');
      // A bad file keeps the rules in force.
      writeFileSync(path, '"os_compute_api:servers:create": "role:member and"\n');
      await assert.rejects(applyPolicyFile(e, path), PolicySyntaxError);
      assert.equal(e.enforce('os_compute_api:servers:create', member, own), false);
      // A missing file is no overrides.
      assert.equal(await applyPolicyFile(e, join(dir, 'absent.yaml')), 0);
      assert.equal(e.enforce('os_compute_api:servers:create', member, own), true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('refuses files that are not a mapping of names to rules, and YAML alias bombs', () => {
    for (const bad of ['- a\n- b\n', '"x": 5\n', '"x": {a: b}\n', 'x: [', '"a": "b"\n"a": "c"\n']) {
      assert.throws(() => parsePolicyText(bad), PolicySyntaxError, bad);
    }
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 12; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`);
    assert.throws(() => parsePolicyText(bomb.join('\n')), /alias/);
    assert.deepEqual([...parsePolicyText('__proto__: "role:x"\n')], [['__proto__', 'role:x']]);
    assert.deepEqual([...parsePolicyText('')], []);
    assert.deepEqual([...parsePolicyText('{"x": []}')], [['x', '']]);
  });

  it('the sample file, uncommented, is a valid policy file of every default', () => {
    const sample = policySample(allPolicyDefaults());
    const rules = parsePolicyText(sample.split('\n').filter((l) => l.startsWith('#"')).map((l) => l.slice(1)).join('\n'));
    assert.deepEqual([...rules.keys()], allPolicyDefaults().map((d) => d.name));
  });

  it("words a refusal as each API does", () => {
    assert.equal(refusalMessage('nova', 'r'), "Policy doesn't allow r to be performed.");
    assert.equal(refusalMessage('keystone', 'r'), 'You are not authorized to perform the requested action: r.');
    assert.equal(refusalMessage('glance', 'r'), 'You are not authorized to complete r action.');
  });
});
