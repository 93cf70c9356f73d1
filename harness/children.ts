import { spawn, type ChildProcess } from 'node:child_process';
import { closeSync, existsSync, openSync, readFileSync, renameSync } from 'node:fs';

/** Whether `p` settles within `ms`. */
export async function settles(p: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), ms);
  });
  try {
    return await Promise.race([p.then(() => true), timedOut]);
  } finally {
    clearTimeout(timer);
  }
}

export interface NodeProcessOptions {
  /** Output that says it is up. */
  ready: RegExp;
  /** Node flags (e.g. --cpu-prof). */
  nodeArgs?: string[];
  cwd?: string;
  /** A file for its output (long runs, kept with the state); without one it is kept in memory. */
  logPath?: string;
}

/**
 * A Node.js entry point in a child process. It can be stopped and started again, and `entry`
 * may change in between (an upgrade to another release's build).
 */
export class NodeProcess {
  child: ChildProcess | null = null;
  private out = '';

  constructor(readonly name: string, public entry: string, readonly args: string[], readonly env: NodeJS.ProcessEnv, private readonly opts: NodeProcessOptions) {}

  /** What it printed since it was last started. */
  output(): string {
    const log = this.opts.logPath;
    if (!log) return this.out;
    return existsSync(log) ? readFileSync(log, 'utf8') : '';
  }

  /** Starts it and waits until its output matches `ready`, for 120 s at most; returns the match. */
  async start(): Promise<RegExpExecArray> {
    const { ready, nodeArgs = [], cwd, logPath } = this.opts;
    this.out = '';
    // A restarted process writes a fresh log; the previous run's is kept beside it (a killed run's log is what explains a fault).
    if (logPath && existsSync(logPath)) renameSync(logPath, `${logPath}.${Date.now()}`);
    const fd = logPath ? openSync(logPath, 'w') : null;
    const child = spawn(process.execPath, [...nodeArgs, this.entry, ...this.args], { cwd, env: this.env, stdio: ['ignore', fd ?? 'pipe', fd ?? 'pipe'] });
    if (fd !== null) closeSync(fd);
    else for (const stream of [child.stdout!, child.stderr!]) stream.on('data', (d: Buffer) => (this.out += d.toString()));
    this.child = child;
    const deadline = Date.now() + 120_000;
    for (;;) {
      const text = this.output();
      const m = ready.exec(text);
      if (m) return m;
      const ended = child.exitCode ?? child.signalCode;
      if (ended !== null) throw new Error(`${this.name} exited with ${ended} before it was up:\n${text.slice(-4000)}`);
      if (Date.now() > deadline) throw new Error(`${this.name} did not come up in 120 s:\n${text.slice(-4000)}`);
      await new Promise((r) => setTimeout(r, 50));
    }
  }

  signal(sig: NodeJS.Signals): void {
    this.child?.kill(sig);
  }

  /**
   * Sends `signal`, then SIGKILL if it is still there after 30 s, and resolves once it is gone.
   * The wait is long because a profiled process writes its profile as it exits.
   */
  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    const child = this.child;
    if (child && child.exitCode === null && child.signalCode === null) {
      const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
      child.kill(signal);
      if (!(await settles(exited, 30_000))) {
        child.kill('SIGKILL');
        await exited;
      }
    }
    this.child = null;
  }
}
