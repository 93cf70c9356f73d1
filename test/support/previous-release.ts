import { execFile } from 'node:child_process';
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { repoRoot } from '../../harness/repo.js';

const exec = promisify(execFile);

export interface PreviousRelease {
  /** The git revision it was packed from. */
  revision: string;
  /** Its `orrery` entry point, built. */
  entry: string;
  dispose(): void;
}

/**
 * Builds the previous release from its packed sources (test/fixtures: `git archive` of a real
 * earlier revision), with its own copies of the contract and fake driver packages and the
 * repository's third-party node_modules.
 */
export async function buildPreviousRelease(name = 'orrery-0.1.0'): Promise<PreviousRelease> {
  const root = repoRoot();
  const fixtures = join(root, 'test', 'fixtures');
  const parent = mkdtempSync(join(tmpdir(), 'orrery-prev-'));
  await exec('tar', ['xzf', join(fixtures, `${name}.tar.gz`), '-C', parent]);
  const dir = join(parent, name);
  const modules = join(dir, 'node_modules');
  mkdirSync(join(modules, '@orrery'), { recursive: true });
  for (const entry of readdirSync(join(root, 'node_modules'))) {
    if (entry === '@orrery' || entry === '.bin' || entry.startsWith('.')) continue;
    symlinkSync(join(root, 'node_modules', entry), join(modules, entry));
  }
  for (const pkg of ['virt-api', 'driver-fake']) symlinkSync(join(dir, 'packages', pkg), join(modules, '@orrery', pkg));
  writeFileSync(join(dir, 'tsconfig.json'), JSON.stringify({
    extends: './tsconfig.base.json',
    compilerOptions: { rootDir: '.', outDir: 'dist' },
    include: ['src/**/*.ts'],
    references: [{ path: 'packages/virt-api' }, { path: 'packages/driver-fake' }],
  }));
  await exec(join(root, 'node_modules', '.bin', 'tsc'), ['-b', dir], { cwd: dir });
  return {
    revision: readFileSync(join(fixtures, `${name}.rev`), 'utf8').trim(),
    entry: join(dir, 'dist', 'src', 'cmd', 'orrery.js'),
    dispose: () => rmSync(parent, { recursive: true, force: true }),
  };
}
