import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The built web app (`npm run build` writes it to dist/dashboard-web), read into memory once:
 * it is about 100 KiB (0.5 MiB with its source map), and a fixed set of files means no path
 * from a request ever reaches the file system.
 */

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8', '.js': 'text/javascript; charset=utf-8', '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml', '.png': 'image/png', '.ico': 'image/x-icon', '.json': 'application/json', '.map': 'application/json',
  '.woff2': 'font/woff2',
};

export interface StaticFile {
  type: string;
  body: Buffer;
}

/** The repository root: the nearest folder above this module with a package.json (from src/ under tsx or from dist/). */
function repositoryRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir);
  return dir;
}

/** Where `npm run build` puts the web app. */
export const WEB_ROOT = join(repositoryRoot(), 'dist', 'dashboard-web');

function walk(dir: string, prefix: string, out: Map<string, StaticFile>): void {
  for (const name of readdirSync(dir).sort()) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) walk(p, `${prefix}${name}/`, out);
    else out.set(`/${prefix}${name}`, { type: TYPES[extname(name)] ?? 'application/octet-stream', body: readFileSync(p) });
  }
}

/** The files of the built app by URL path ('/index.html', '/assets/…'); empty when it was not built. */
export function loadWebApp(root = WEB_ROOT): Map<string, StaticFile> {
  const files = new Map<string, StaticFile>();
  if (existsSync(root) && statSync(root).isDirectory()) walk(root, '', files);
  return files;
}
