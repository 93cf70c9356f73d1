import { pino, type Logger } from 'pino';

export type { Logger };

/** One root logger per process; services take children named after themselves. */
export function createLogger(name: string, level = process.env.ORRERY_LOG_LEVEL ?? 'info'): Logger {
  return pino({ name, level, base: { pid: process.pid } });
}
