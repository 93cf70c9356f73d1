#!/usr/bin/env node
/**
 * Password guessing against the identity API, measured (issue #10, item 5): what a wrong
 * password costs for an unknown and for a known user (the same, or the answer time tells who
 * exists), and how long a correct login from one address takes while 16 parallel guessers
 * hammer from another. Not part of `npm run bench`'s storms; run it on its own:
 *
 *   npx tsc -b && node dist/bench/login-guessing.js [--no-limit]
 *
 * --no-limit sets [identity] auth_failure_burst = 0, so that the guessers keep reaching the
 * hashing and the fairness of the hashing queue is what is measured. The hash is the default
 * (PBKDF2-SHA512, 210 000 rounds). Client and server share this process and this machine.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { TokenService } from '../src/auth/tokens.js';
import { Config } from '../src/common/config.js';
import { createLogger } from '../src/common/logging.js';
import { migrate, openDatabase } from '../src/db/connection.js';
import { findProjectByName, findRoleByName, grantRole, insertUser } from '../src/db/identity.js';
import { createIdentityApp } from '../src/identity/app.js';
import { bootstrapIdentity } from '../src/identity/bootstrap.js';
import { hashPassword, passwordHashOptions } from '../src/auth/passwords.js';
import { defaultEnforcer } from '../src/cmd/policies.js';

const GUESSERS = 16;
const SAMPLES = 30;

const noLimit = process.argv.includes('--no-limit');
const stateDir = mkdtempSync(join(tmpdir(), 'orrery-login-bench-'));
const config = new Config({
  DEFAULT: { state_path: stateDir },
  identity: noLimit ? { auth_failure_burst: '0' } : {},
}, {});
const db = openDatabase(`sqlite:///${join(stateDir, 'orrery.sqlite')}`);
await migrate(db);
await bootstrapIdentity(db, config);
const admin = await findProjectByName(db, 'admin', 'default');
await insertUser(db, {
  id: 'alice', name: 'alice', domain_id: 'default', password_hash: await hashPassword('pw', passwordHashOptions(config)),
  enabled: 1, default_project_id: null, email: null, description: null, created_at: new Date().toISOString(),
});
await grantRole(db, { user_id: 'alice', project_id: admin!.id, role_id: (await findRoleByName(db, 'member'))!.id });
const app = createIdentityApp({ db, config, tokens: new TokenService(db, config), policy: defaultEnforcer(), log: createLogger('bench', 'silent'), catalog: () => [] });
await app.listen({ host: '127.0.0.1', port: 0 });
const port = (app.server.address() as AddressInfo).port;

/** POST /v3/auth/tokens from a chosen loopback address; resolves to the status. */
function login(name: string, password: string, localAddress: string): Promise<number> {
  const data = JSON.stringify({ auth: { identity: { methods: ['password'], password: { user: { name, domain: { id: 'default' }, password } } } } });
  return new Promise((resolve, reject) => {
    const req = request({
      host: '127.0.0.1', port, path: '/v3/auth/tokens', method: 'POST', localAddress, agent: false,
      headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(data) },
    }, (res) => {
      res.resume();
      res.on('end', () => resolve(res.statusCode ?? 0));
    });
    req.on('error', reject);
    req.end(data);
  });
}

async function timed(f: () => Promise<number>): Promise<{ ms: number; status: number }> {
  const t = performance.now();
  const status = await f();
  return { ms: performance.now() - t, status };
}
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;
const ms = (x: number): string => `${x.toFixed(1)} ms`;

// 1. Unknown user against known user with a wrong password, alternating, each pair from its
//    own address so that no limit applies.
const unknown: number[] = [];
const known: number[] = [];
for (let i = 0; i < SAMPLES; i++) {
  const from = `127.0.${1 + i}.10`;
  unknown.push((await timed(() => login(`nobody-${i}`, 'x', from))).ms);
  known.push((await timed(() => login('alice', `wrong-${i}`, from))).ms);
}
console.log(`wrong password: unknown user ${ms(median(unknown))}, known user ${ms(median(known))} (medians of ${SAMPLES}; ratio ${(median(known) / median(unknown)).toFixed(2)})`);

// 2. A correct login from 127.0.0.2, idle, then while 16 guessers loop from 127.0.0.1.
const idle: number[] = [];
for (let i = 0; i < 5; i++) idle.push((await timed(() => login('alice', 'pw', '127.0.0.2'))).ms);
let stop = false;
const answers = new Map<number, number>();
const guessers = Array.from({ length: GUESSERS }, async (_, g) => {
  for (let i = 0; !stop; i++) {
    const status = await login('admin', `guess-${g}-${i}`, '127.0.0.1');
    answers.set(status, (answers.get(status) ?? 0) + 1);
  }
});
await new Promise((r) => setTimeout(r, 1000));
const busy: Array<{ ms: number; status: number }> = [];
for (let i = 0; i < 10; i++) busy.push(await timed(() => login('alice', 'pw', '127.0.0.2')));
stop = true;
await Promise.all(guessers);
console.log(`correct login: idle ${ms(median(idle))}; with ${GUESSERS} guessers ${ms(median(busy.map((b) => b.ms)))} median, ` +
  `${ms(Math.max(...busy.map((b) => b.ms)))} max (answers ${[...new Set(busy.map((b) => b.status))].join(',')}); ` +
  `guessers were answered ${JSON.stringify(Object.fromEntries(answers))}`);

await app.close();
await db.destroy();
rmSync(stateDir, { recursive: true, force: true });
