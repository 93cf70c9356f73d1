import { execFileSync } from 'node:child_process';
import { closeSync, existsSync, mkdtempSync, openSync, readdirSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium, type BrowserContext } from 'playwright-core';
import { WEB_ROOT } from '../../src/dashboard/static-files.js';

const REPO = new URL('../..', import.meta.url).pathname;
const SOURCES = join(REPO, 'dashboard');

function newestIn(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    if (e.name === 'node_modules') continue;
    const p = join(dir, e.name);
    newest = Math.max(newest, e.isDirectory() ? newestIn(p) : statSync(p).mtimeMs);
  }
  return newest;
}

const fresh = (): boolean => existsSync(join(WEB_ROOT, 'index.html')) && statSync(join(WEB_ROOT, 'index.html')).mtimeMs >= newestIn(SOURCES);

/**
 * The tests drive what `npm run build` makes. `npm test` has built it; a subset run after editing
 * dashboard/ builds it here, once: test files run in parallel, and Vite refuses a second build of
 * one project at a time, so the build is serialized by a lock file beside the output.
 */
export async function ensureDashboardBuilt(): Promise<void> {
  if (fresh()) return;
  const lock = join(REPO, 'dist', '.dashboard-build.lock');
  for (;;) {
    try {
      closeSync(openSync(lock, 'wx'));
      break;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      await sleep(250);
      // A lock older than any build (a killed test) is stale.
      if (existsSync(lock) && Date.now() - statSync(lock).mtimeMs > 120_000) rmSync(lock, { force: true });
    }
  }
  try {
    if (!fresh()) execFileSync('npm', ['run', '-s', 'build:dashboard'], { cwd: REPO, stdio: ['ignore', 'ignore', 'inherit'] });
  } finally {
    rmSync(lock, { force: true });
  }
}

/** Debian's Chromium, driven by playwright-core (no browser download). */
export const CHROMIUM = process.env.ORRERY_CHROMIUM ?? '/usr/bin/chromium';

export const chromiumAvailable = (): boolean => existsSync(CHROMIUM);

/** Headless, nothing phoning home, no GPU (none here), no sandbox (the tests run as root). */
const FLAGS = [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
  '--disable-background-networking', '--disable-component-update', '--disable-sync',
];

export interface Browser {
  context: BrowserContext;
  close(): Promise<void>;
}

/** A browser with a new empty profile (its own --user-data-dir), removed on close. */
export async function launchBrowser(): Promise<Browser> {
  const profile = mkdtempSync(join(tmpdir(), 'orrery-chromium-'));
  const context = await chromium.launchPersistentContext(profile, {
    executablePath: CHROMIUM, headless: true, args: FLAGS, viewport: { width: 1280, height: 800 },
  });
  return {
    context,
    close: async () => {
      await context.close();
      rmSync(profile, { recursive: true, force: true });
    },
  };
}
