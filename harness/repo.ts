import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository root: the nearest directory above this module (source or dist/) with Orrery's package.json. */
export function repoRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const pkg = join(dir, 'package.json');
    if (existsSync(pkg) && (JSON.parse(readFileSync(pkg, 'utf8')) as { name?: string }).name === 'orrery') return dir;
    const up = dirname(dir);
    if (up === dir) throw new Error('cannot find the Orrery repository root');
    dir = up;
  }
}

/** An entry point of src/cmd as built by `npm run build` (deployments run built JavaScript, as operators do). */
export function builtEntry(name: 'all-in-one' | 'orrery'): string {
  return join(repoRoot(), 'dist', 'src', 'cmd', `${name}.js`);
}
