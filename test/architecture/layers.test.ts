import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join, relative, dirname, resolve } from 'node:path';

/**
 * The layer rule of DESIGN.md, checked on every import: each layer imports only from the layers
 * before it; services reach each other only through RPC clients; the compute service imports no
 * driver; drivers import nothing of ours but the contract package.
 */
const root = resolve(dirname(new URL(import.meta.url).pathname), '../..');

const LAYERS: Record<string, number> = {
  common: 1,
  objects: 2,
  // layer 3, in its own order: repositories and the bus, then auth over the repositories,
  // then the HTTP kit and the clients of our own APIs
  db: 3, rpc: 3, auth: 3.2, httpkit: 3.4, clients: 3.4,
  identity: 4, image: 4, scheduler: 4, conductor: 4, compute: 4, api: 4,
  network: 4, netagent: 4, dashboard: 4,
  consoles: 4,
  baremetal: 4,
  cmd: 5,
};

function tsFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir)) {
    const p = join(dir, e);
    if (e === 'node_modules' || e === 'dist') continue;
    if (statSync(p).isDirectory()) out.push(...tsFiles(p));
    else if (/\.(ts|js|mjs)$/.test(e) && !e.endsWith('.d.ts')) out.push(p);
  }
  return out;
}

function importsOf(file: string): string[] {
  const text = readFileSync(file, 'utf8');
  const specs: string[] = [];
  for (const m of text.matchAll(/(?:^|\n)\s*(?:import|export)[^'"]*?from\s+['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/import\(\s*['"]([^'"]+)['"]\s*\)/g)) specs.push(m[1]!);
  for (const m of text.matchAll(/(?:^|\n)\s*import\s+['"]([^'"]+)['"]/g)) specs.push(m[1]!);
  return specs;
}

/** The SQL libraries: only the repositories (src/db) may import them. */
const SQL_LIBRARY = /^(kysely|pg|better-sqlite3)(\/|$)/;

/**
 * What building or running a query looks like in the text: Kysely's query starters (as methods
 * or destructured from an expression builder), a transaction opened, and the `sql` template tag
 * (typed or not) and its helpers.
 */
const QUERY_BUILDING = /\b(?:selectFrom|insertInto|updateTable|deleteFrom|replaceInto|mergeInto|selectNoFrom)\s*\(|\.transaction\(\s*\)|\bsql\s*(?:<[^>]*>)?\s*`|\bsql\.(?:raw|lit|ref|id|join|table|val)\(/;

/** The text without its comments (block comments, and line comments not inside a URL), line numbers kept. */
function withoutComments(text: string): string {
  return text.replace(/\/\*[\s\S]*?\*\//g, (c) => c.replace(/[^\n]/g, ' ')).replace(/(^|[\s;{}(),])\/\/.*$/gm, '$1');
}

const layerOf = (file: string): string => relative(join(root, 'src'), file).split('/')[0]!;

describe('architecture', () => {
  it('every src folder has a layer', () => {
    for (const d of readdirSync(join(root, 'src'))) assert.ok(d in LAYERS, `src/${d} has no layer in this test`);
  });

  it('each layer imports only from the layers above it, and services only through RPC clients', () => {
    const problems: string[] = [];
    for (const file of tsFiles(join(root, 'src'))) {
      const from = layerOf(file);
      for (const spec of importsOf(file)) {
        if (!spec.startsWith('.')) continue;
        const to = layerOf(resolve(dirname(file), spec));
        if (to === from) continue;
        if (LAYERS[to]! >= LAYERS[from]! && !(LAYERS[from] === 5)) {
          problems.push(`${relative(root, file)} (${from}) imports ${spec} (${to})`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the compute service never touches the database: it asks the conductor', () => {
    const problems: string[] = [];
    for (const file of tsFiles(join(root, 'src', 'compute'))) {
      for (const spec of importsOf(file)) {
        if (spec.startsWith('.') && layerOf(resolve(dirname(file), spec)) === 'db') problems.push(`${relative(root, file)} imports ${spec}`);
        if (/^(kysely|better-sqlite3|pg)$/.test(spec)) problems.push(`${relative(root, file)} imports ${spec}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('only the repositories (src/db) import the SQL libraries', () => {
    const problems: string[] = [];
    for (const file of tsFiles(join(root, 'src'))) {
      if (layerOf(file) === 'db') continue;
      for (const spec of importsOf(file)) if (SQL_LIBRARY.test(spec)) problems.push(`${relative(root, file)} imports ${spec}`);
    }
    assert.deepEqual(problems, []);
  });

  it('only the repositories (src/db) build queries or open transactions', () => {
    const problems: string[] = [];
    for (const file of tsFiles(join(root, 'src'))) {
      if (layerOf(file) === 'db') continue;
      for (const [i, line] of withoutComments(readFileSync(file, 'utf8')).split('\n').entries()) {
        const m = QUERY_BUILDING.exec(line);
        if (m) problems.push(`${relative(root, file)}:${i + 1} ${m[0]}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('the compute service imports no driver package', () => {
    const problems: string[] = [];
    for (const file of tsFiles(join(root, 'src'))) {
      for (const spec of importsOf(file)) {
        if (/^@orrery\/driver-|packages\/driver-/.test(spec)) problems.push(`${relative(root, file)} imports ${spec}`);
      }
    }
    assert.deepEqual(problems, []);
  });

  it('drivers import nothing of ours but the contract package', () => {
    const problems: string[] = [];
    const packageDirs = [
      ...readdirSync(join(root, 'packages')).filter((p) => p !== 'virt-api').map((p) => join(root, 'packages', p)),
      ...readdirSync(join(root, 'examples')).map((p) => join(root, 'examples', p)),
    ];
    for (const pkg of packageDirs) {
      const self = (JSON.parse(readFileSync(join(pkg, 'package.json'), 'utf8')) as { name: string }).name;
      for (const file of tsFiles(pkg)) {
        for (const spec of importsOf(file)) {
          const ours = spec.startsWith('@orrery/') && !/^@orrery\/virt-api(\/|$)/.test(spec) && spec.split('/').slice(0, 2).join('/') !== self;
          const escapes = spec.startsWith('.') && !resolve(dirname(file), spec).startsWith(pkg + '/');
          if (ours || escapes) problems.push(`${relative(root, file)} imports ${spec}`);
        }
      }
    }
    assert.deepEqual(problems, []);
  });
});
