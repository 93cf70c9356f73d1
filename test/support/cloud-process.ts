import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

export const repoRoot = resolve(new URL('.', import.meta.url).pathname, '../..');

export interface CloudProcess {
  child: ChildProcess;
  stateDir: string;
  openrcPath: string;
  /** The openrc's variables, as the CLI would see them after sourcing it. */
  env: Record<string, string>;
  output(): string;
  stop(): Promise<void>;
}

/**
 * Starts the all-in-one (the same entry point as `npm start`, from built JavaScript) in a child
 * process on free ports with its state in a temporary directory, and waits until it is up.
 */
export async function startCloudProcess(extraEnv: Record<string, string> = {}): Promise<CloudProcess> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-'));
  const env: NodeJS.ProcessEnv = {
    ...process.env,
    ORRERY_STATE_PATH: stateDir,
    ORRERY_API__IDENTITY_PORT: '0',
    ORRERY_API__IMAGE_PORT: '0',
    ORRERY_API__COMPUTE_PORT: '0',
    ORRERY_API__PLACEMENT_PORT: '0',
    ORRERY_LOG_LEVEL: process.env.ORRERY_LOG_LEVEL ?? 'warn',
    ...extraEnv,
  };
  const child = spawn(process.execPath, [join(repoRoot, 'dist/src/cmd/all-in-one.js')], { cwd: stateDir, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const openrcPath = await new Promise<string>((resolveUp, reject) => {
    const timer = setTimeout(() => reject(new Error(`cloud did not start in 60 s:\n${out}`)), 60_000);
    const check = (): void => {
      const m = /Credentials: \. (\S+)/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolveUp(m[1]!);
      }
    };
    child.stdout!.on('data', check);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`cloud exited with ${code}:\n${out}`));
    });
  });
  const vars: Record<string, string> = {};
  for (const m of readFileSync(openrcPath, 'utf8').matchAll(/^export (\w+)=(.*)$/gm)) vars[m[1]!] = m[2]!;
  return {
    child, stateDir, openrcPath, env: vars,
    output: () => out,
    stop: async () => {
      if (child.exitCode === null) {
        const exited = new Promise((r) => child.once('exit', r));
        child.kill('SIGTERM');
        await Promise.race([exited, new Promise((r) => setTimeout(r, 10_000))]);
        if (child.exitCode === null) child.kill('SIGKILL');
      }
      rmSync(stateDir, { recursive: true, force: true });
    },
  };
}
