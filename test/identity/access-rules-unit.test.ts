import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { accessAllowed, accessPathMatches } from '../../src/auth/access-rules.js';

describe('access rules: keystonemiddleware path matching', () => {
  it('matches literal paths, * within a segment, ** across segments, {name} like *', () => {
    const yes: Array<[string, string]> = [
      ['/v2.1/servers', '/v2.1/servers'],
      ['/v2.1/servers/*', '/v2.1/servers/abc'],
      ['/v2.1/servers/*/action', '/v2.1/servers/abc/action'],
      ['/v2.1/servers/{server_id}', '/v2.1/servers/abc'],
      ['/v2/**', '/v2/images'],
      ['/v2/**', '/v2/images/x/file'],
      ['/v2/**', '/v2/'],
      ['/v2.1/servers*', '/v2.1/serversX'],
    ];
    const no: Array<[string, string]> = [
      ['/v2.1/servers', '/v2.1/servers/abc'],
      ['/v2.1/servers/*', '/v2.1/servers'],
      ['/v2.1/servers/*', '/v2.1/servers/'],
      ['/v2.1/servers/*', '/v2.1/servers/a/b'],
      ['/v2/**', '/v2'],
      ['/v2.1/servers', '/v2X1/servers'],
    ];
    for (const [t, p] of yes) assert.ok(accessPathMatches(t, p), `${t} should match ${p}`);
    for (const [t, p] of no) assert.ok(!accessPathMatches(t, p), `${t} should not match ${p}`);
  });

  it('costs tokens × characters even for a template full of **', () => {
    const t0 = Date.now();
    assert.ok(!accessPathMatches('/**'.repeat(200) + 'x', '/a'.repeat(500)));
    assert.ok(Date.now() - t0 < 1000);
  });

  it('checks service and method; a GET rule allows HEAD', () => {
    const rules = [{ id: '1', service: 'compute', method: 'GET', path: '/v2.1/servers' }];
    assert.ok(accessAllowed(rules, 'compute', 'GET', '/v2.1/servers'));
    assert.ok(accessAllowed(rules, 'compute', 'HEAD', '/v2.1/servers'));
    assert.ok(!accessAllowed(rules, 'compute', 'POST', '/v2.1/servers'));
    assert.ok(!accessAllowed(rules, 'image', 'GET', '/v2.1/servers'));
    assert.ok(!accessAllowed([], 'compute', 'GET', '/v2.1/servers'));
  });
});
