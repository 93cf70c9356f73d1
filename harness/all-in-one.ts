import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { formatIni, type IniData } from '../src/common/config.js';
import { NodeProcess } from './children.js';
import { readOpenrc } from './openrc.js';
import { builtEntry } from './repo.js';

export interface AllInOneOptions {
  /** The environment it inherits; its state path and ports are set over it. */
  baseEnv: NodeJS.ProcessEnv;
  /** Environment over everything else (the state path included). */
  env?: Record<string, string>;
  /** Options written to a config file it is given (ORRERY_CONFIG). */
  ini?: IniData;
  nodeArgs?: string[];
  /** Its output to all-in-one.log in its state directory rather than to memory. */
  logToFile?: boolean;
  /** Keep the state directory when it stops. */
  keepState?: boolean;
}

export interface AllInOne {
  pid: number;
  stateDir: string;
  openrcPath: string;
  /** The openrc's variables, as the CLI sees them after sourcing it. */
  openrc: Record<string, string>;
  output(): string;
  /** Stops it and removes its state (unless kept). */
  stop(): Promise<void>;
}

/**
 * The all-in-one (`npm start`'s entry point, from built JavaScript) in a child process, on free
 * ports, working in a temporary state directory; resolves once it has printed its openrc.
 */
export async function launchAllInOne(opts: AllInOneOptions): Promise<AllInOne> {
  const stateDir = mkdtempSync(join(tmpdir(), 'orrery-aio-'));
  const env: NodeJS.ProcessEnv = {
    ...opts.baseEnv,
    ORRERY_STATE_PATH: stateDir,
    ORRERY_API__METADATA_PORT: '0',
    ORRERY_API__IDENTITY_PORT: '0',
    ORRERY_API__IMAGE_PORT: '0',
    ORRERY_API__COMPUTE_PORT: '0',
    ORRERY_API__PLACEMENT_PORT: '0',
    ORRERY_API__NETWORK_PORT: '0',
    ORRERY_API__DASHBOARD_PORT: '0',
    ORRERY_API__BAREMETAL_PORT: '0',
    ORRERY_VNC__NOVNCPROXY_PORT: '0',
    ORRERY_SERIAL_CONSOLE__SERIALPROXY_PORT: '0',
  };
  if (opts.ini) {
    env.ORRERY_CONFIG = join(stateDir, 'orrery.conf');
    writeFileSync(env.ORRERY_CONFIG, formatIni(opts.ini));
  }
  Object.assign(env, opts.env);
  const proc = new NodeProcess('the all-in-one', builtEntry('all-in-one'), [], env, {
    ready: /Credentials: \. (\S+)/, nodeArgs: opts.nodeArgs, cwd: stateDir, logPath: opts.logToFile ? join(stateDir, 'all-in-one.log') : undefined,
  });
  const stop = async (): Promise<void> => {
    await proc.stop();
    if (!opts.keepState) rmSync(stateDir, { recursive: true, force: true });
  };
  try {
    const openrcPath = (await proc.start())[1]!;
    return { pid: proc.child!.pid!, stateDir, openrcPath, openrc: readOpenrc(openrcPath), output: () => proc.output(), stop };
  } catch (err) {
    await stop();
    throw err;
  }
}
