import { execFile } from 'node:child_process';

export interface CliResult {
  code: number;
  stdout: string;
  stderr: string;
}

/** The environment the CLI runs in: ours without any OS_* leaking in, plus the given variables. */
export function cliEnv(vars: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('OS_')) env[k] = v;
  return { ...env, ...vars };
}

/** Runs the real `openstack` CLI; never throws on a non-zero exit (tests assert on it). */
export function openstack(args: string[], vars: Record<string, string>, timeoutMs = 120_000): Promise<CliResult> {
  return new Promise((resolve) => {
    execFile('openstack', args, { env: cliEnv(vars), timeout: timeoutMs, maxBuffer: 16 * 1024 * 1024 }, (err, stdout, stderr) => {
      const code = err ? (typeof (err as NodeJS.ErrnoException & { code?: unknown }).code === 'number' ? (err as unknown as { code: number }).code : 1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** Runs the CLI and fails with its output when it exits non-zero. */
export async function openstackOk(args: string[], vars: Record<string, string>): Promise<string> {
  const r = await openstack(args, vars);
  if (r.code !== 0) throw new Error(`openstack ${args.join(' ')} failed (${r.code}):\n${r.stderr}\n${r.stdout}`);
  return r.stdout;
}

/** JSON output of a CLI command (`-f json`). */
export async function openstackJson<T = unknown>(args: string[], vars: Record<string, string>): Promise<T> {
  return JSON.parse(await openstackOk([...args, '-f', 'json'], vars)) as T;
}

/** Polls `server show` (with `args` before it, e.g. a microversion) until the status is `want`; the CLI's --wait covers only some commands. */
export async function waitServerStatus(
  vars: Record<string, string>, server: string, want: string, args: string[] = [],
): Promise<Record<string, unknown>> {
  const deadline = Date.now() + 60_000;
  for (;;) {
    const s = await openstackJson<Record<string, unknown>>([...args, 'server', 'show', server], vars);
    if (s.status === want) return s;
    if (Date.now() > deadline) throw new Error(`${server} is ${String(s.status)}, wanted ${want}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}
