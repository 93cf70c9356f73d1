/**
 * One documented configuration option. The service's own table (src/common/options.ts) and every
 * driver's section ([fake], [libvirt], [docker]: the package's `driverOptions` export) use this
 * shape, so `orrery config reference` documents both and a driver needs nothing of Orrery's but
 * this package to publish its options.
 */
export type OptionType = 'string' | 'int' | 'float' | 'bool' | 'list' | 'port';

export interface OptionDef {
  /** The value when neither the file nor the environment sets it ('' = unset; the help says what that means). */
  default: string;
  /** One or two sentences: what the option does, its unit, what empty or 0 means. */
  help: string;
  /** How the value is read and checked at start-up (default 'string'): int/float are numbers, port is 0–65535, list is comma separated. */
  type?: OptionType;
  /** The only values allowed (compared case-insensitively). */
  choices?: readonly string[];
  /** Bounds of an int/float (inclusive). */
  min?: number;
  max?: number;
  /** A password, key or URL with credentials: the reference marks it, and a complaint about its value never repeats it. */
  secret?: boolean;
}

/** A driver's options: option name → definition, for its own section (the driver's name). */
export type DriverOptions = Readonly<Record<string, OptionDef>>;

/**
 * Why a value does not fit its definition, or null when it does. An empty value always fits
 * (it means the default); callers that need a value check for '' themselves.
 */
export function optionProblem(def: OptionDef, value: string): string | null {
  const v = value.trim();
  if (v === '') return null;
  if (def.choices && !def.choices.some((c) => c.toLowerCase() === v.toLowerCase())) return `must be one of ${def.choices.join(', ')}`;
  switch (def.type ?? 'string') {
    case 'int':
    case 'port':
    case 'float': {
      const n = Number(v);
      const integer = def.type !== 'float';
      if (!Number.isFinite(n) || (integer && !Number.isInteger(n))) return `must be ${integer ? 'an integer' : 'a number'}`;
      const [min, max] = def.type === 'port' ? [0, 65535] : [def.min, def.max];
      if (min !== undefined && n < min) return `must be at least ${min}`;
      if (max !== undefined && n > max) return `must be at most ${max}`;
      return null;
    }
    case 'bool':
      return /^(1|0|true|false|yes|no|on|off)$/i.test(v) ? null : 'must be true or false';
    default:
      return v.includes('\0') ? 'must not contain NUL' : null;
  }
}

/** Each option's default, for a driver's parser to fall back on (so the table is the one place a default is written). */
export function optionDefaults<T extends DriverOptions>(options: T): { readonly [K in keyof T]: string } {
  const out: Record<string, string> = Object.create(null);
  for (const [name, def] of Object.entries(options)) out[name] = def.default;
  return out as { [K in keyof T]: string };
}
