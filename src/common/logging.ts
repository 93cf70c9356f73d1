import { AsyncLocalStorage } from 'node:async_hooks';
import { pino, type DestinationStream, type Logger } from 'pino';
import pinoPretty from 'pino-pretty';
import type { Config } from './config.js';

export type { Logger };

/**
 * One log per process (pino, one JSON object a line), oslo.log's options: `[DEFAULT] log_level`
 * (ORRERY_LOG_LEVEL), `log_file` (empty: standard output) and `log_format` (json, or pretty —
 * pino-pretty's coloured lines, for a terminal). Every line written while a request or an RPC
 * message is handled carries its `request_id` (logContext below), and nothing that looks like a
 * password or a token reaches the output (redaction below).
 */

export const LOG_LEVELS = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] as const;
export const LOG_FORMATS = ['json', 'pretty'] as const;

export interface LogSettings {
  level: string;
  format: (typeof LOG_FORMATS)[number];
  /** Empty: standard output. */
  file: string;
}

/** The logging options of a configuration, checked: a bad value is a one-line error naming the option. */
export function logSettings(config: Config): LogSettings {
  const level = config.str('DEFAULT', 'log_level').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(level)) throw new Error(`config: [DEFAULT] log_level must be one of ${LOG_LEVELS.join(', ')} (not "${level}")`);
  const format = config.str('DEFAULT', 'log_format').toLowerCase();
  if (!(LOG_FORMATS as readonly string[]).includes(format)) throw new Error(`config: [DEFAULT] log_format must be json or pretty (not "${format}")`);
  return { level, format: format as LogSettings['format'], file: config.str('DEFAULT', 'log_file') };
}

/** What every line written within one unit of work carries: its request ids. */
export interface LogContext {
  request_id?: string;
  /** The caller's own id (a well-formed X-OpenStack-Request-ID it sent: oslo's global request id). */
  global_request_id?: string;
}

const context = new AsyncLocalStorage<LogContext>();

/**
 * Runs `fn` with `fields` on every log line written within it, by any logger, including the
 * work it leaves running (a build spawned after its RPC handler returned): one place to set the
 * request id instead of a child logger passed to every function a handler calls.
 */
export function withLogContext<T>(fields: LogContext, fn: () => T): T {
  return context.run({ ...context.getStore(), ...fields }, fn);
}

/** The fields of the unit of work in progress (empty outside one). */
export function currentLogContext(): LogContext {
  return { ...context.getStore() };
}

/** Key names (lower case, without - and _) whose values are secrets wherever they appear. */
const SECRET_KEYS = new Set(['password', 'passwd', 'adminpass', 'secret', 'token', 'tokenid', 'authorization', 'cookie', 'setcookie', 'privatekey', 'credentials']);
const SECRET_SUFFIXES = ['password', 'secret', 'token'];
/** Orrery's tokens (auth/tokens.ts): 'gAAAA' and 64 url-safe base64 characters; found inside strings too. */
const TOKEN_IN_TEXT = /gAAAA[A-Za-z0-9_-]{16,}/g;
const REDACTED = '[REDACTED]';
/** Deeper than any object the services log; what lies below is dropped rather than walked. */
const MAX_DEPTH = 8;

/** Answers by key name, remembered: the keys logged are the code's own few dozen (bounded all the same). */
const secretKeyMemo = new Map<string, boolean>();

export function isSecretKey(key: string): boolean {
  let secret = secretKeyMemo.get(key);
  if (secret === undefined) {
    const k = key.toLowerCase().replace(/[-_]/g, '');
    secret = SECRET_KEYS.has(k) || SECRET_SUFFIXES.some((s) => k.endsWith(s));
    if (secretKeyMemo.size < 10_000) secretKeyMemo.set(key, secret);
  }
  return secret;
}

/** A token in a URL's query, plain or percent-encoded (the console URLs: `?token=<uuid>`, noVNC's `?path=%3Ftoken%3D<uuid>`). */
const TOKEN_IN_QUERY = /((?:[?&]|%3F|%26)token(?:=|%3D))[^&\s"\\]+/gi;

/** `text` with token-shaped parts, and tokens in URL queries, replaced. */
export function scrubTokens(text: string): string {
  let out = text.includes('gAAAA') ? text.replace(TOKEN_IN_TEXT, 'gAAAA' + REDACTED) : text;
  if (out.includes('token=') || out.includes('token%3')) out = out.replace(TOKEN_IN_QUERY, `$1${REDACTED}`);
  return out;
}

/** A copy of `value` with the values of secret-named keys replaced, at any depth. */
export function redact(value: unknown, depth = 0): unknown {
  if (value === null || typeof value !== 'object') return value;
  if (depth >= MAX_DEPTH) return '[...]';
  if (Array.isArray(value)) return value.map((v) => redact(v, depth + 1));
  if (value instanceof Error) {
    const copy = Object.assign(new Error(value.message), redact({ ...value }, depth + 1));
    copy.name = value.name;
    copy.stack = value.stack;
    return copy;
  }
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null) return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) out[k] = isSecretKey(k) ? REDACTED : redact(v, depth + 1);
  return out;
}

/** One destination per file in a process: loggers writing to the same file share it, and SIGHUP reopens it (logrotate). */
type FileDestination = ReturnType<typeof pino.destination>;
const files = new Map<string, FileDestination>();

function fileDestination(path: string): FileDestination {
  let dest = files.get(path);
  if (!dest) {
    // Synchronous: the lines written just before a crash are the ones that explain it.
    dest = pino.destination({ dest: path, mkdir: true, append: true, sync: true });
    files.set(path, dest);
    const d = dest;
    process.on('SIGHUP', () => d.reopen());
  }
  return dest;
}

function destinationOf(s: LogSettings): DestinationStream {
  const raw = s.file ? fileDestination(s.file) : pino.destination({ dest: 1, sync: true });
  const out = s.format === 'json' ? raw : pinoPretty({ destination: raw, sync: true, colorize: !s.file && process.stdout.isTTY === true, translateTime: 'SYS:standard', ignore: 'pid,hostname', singleLine: true });
  // Tokens in text (a message, an error's message or stack) are found in the finished line: one
  // scan of it, where a hook on every log call's arguments cost 4 µs a line (measured: 2.1 µs plain).
  return { write: (line: string) => out.write(scrubTokens(line)) };
}

/**
 * One root logger per process; services take children named after themselves. `settings` is
 * the configuration's (logSettings), or just a level (tests), else ORRERY_LOG_LEVEL or info.
 */
export function createLogger(name: string, settings?: string | Partial<LogSettings>): Logger {
  const s: LogSettings = { level: process.env.ORRERY_LOG_LEVEL ?? 'info', format: 'json', file: '', ...(typeof settings === 'string' ? { level: settings } : settings) };
  const root = pino({
    name, level: s.level, base: { pid: process.pid },
    // The request ids first, then the line's own fields, redacted: one copy of the object a line
    // (pino's mixin would add a second merge, 3 µs a line).
    formatters: {
      log: (obj) => {
        const fields = redact(obj) as Record<string, unknown>;
        const ids = context.getStore();
        return ids ? { ...ids, ...fields } : fields;
      },
    },
  }, destinationOf(s));
  // A child's bindings are written without formatters.log: redacted as the child is made
  // (children inherit this method, being made from their parent by Object.create).
  const child = root.child;
  root.child = function (this: Logger, bindings, options) {
    return child.call(this, redact(bindings) as typeof bindings, options);
  } as Logger['child'];
  return root;
}

/** The instance lifecycle events a line names in its `lifecycle` field (one table: docs/logging.md lists them). */
export type LifecycleEvent = 'scheduled' | 'spawning' | 'active' | 'error' | 'deleted' | 'power_state';

/** One instance lifecycle line: `instance <event>`, with the instance's uuid; errors at warn with their reason. */
export function logLifecycle(log: Logger, event: LifecycleEvent, instance: string, fields: Record<string, unknown> = {}): void {
  const line = { lifecycle: event, instance, ...fields };
  if (event === 'error') log.warn(line, `instance ${event}`);
  else log.info(line, event === 'power_state' ? 'instance power state changed' : `instance ${event}`);
}
