import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { TokenService } from '../../src/auth/tokens.js';
import { Config } from '../../src/common/config.js';
import { createLogger } from '../../src/common/logging.js';
import { migrate, openDatabase } from '../../src/db/connection.js';
import { createApp } from '../../src/httpkit/app.js';
import { defaultEnforcer } from '../../src/cmd/policies.js';
import { startTestCloud } from '../support/cloud.js';

/** An app refuses to start on a route without a rule or with an unknown one; a cloud refuses a bad policy file. */
describe('policy at start', () => {
  async function startWith(config: { policy?: string; public?: boolean }): Promise<string | null> {
    const db = openDatabase('sqlite://');
    await migrate(db);
    const app = createApp({
      name: 'compute', format: 'nova', tokens: new TokenService(db, new Config(undefined, {})), log: createLogger('test', 'silent'),
      policy: { enforcer: defaultEnforcer(), style: 'nova' },
    });
    app.get('/x', { config }, async () => ({}));
    try {
      await app.ready();
      return null;
    } catch (err) {
      return (err as Error).message;
    } finally {
      await app.close();
      await db.destroy();
    }
  }

  it('refuses a route without a rule, or naming an unknown one; a public route needs none', async () => {
    assert.match((await startWith({})) ?? '', /GET \/x names no policy rule/);
    assert.match((await startWith({ policy: 'os_compute_api:no-such' })) ?? '', /unknown policy rule os_compute_api:no-such/);
    assert.equal(await startWith({ policy: 'os_compute_api:servers:index' }), null);
    assert.equal(await startWith({ public: true }), null);
  });

  it('a cloud whose policy.yaml does not parse does not start', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'orrery-policy-start-'));
    try {
      const file = join(dir, 'policy.yaml');
      writeFileSync(file, '"os_compute_api:servers:create": "(role:member"\n');
      await assert.rejects(startTestCloud({ oslo_policy: { policy_file: file } }), /os_compute_api:servers:create.*unbalanced/);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });
});
