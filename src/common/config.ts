import { readFileSync } from 'node:fs';
import { dirname, resolve } from 'node:path';
import { optionProblem } from '@orrery/virt-api';
import { OPTIONS, optionDef, optionDefaults } from './options.js';

/**
 * Configuration: an INI file with Nova's option names where the meaning is the same, plus
 * environment overrides. `ORRERY_<OPTION>` overrides [DEFAULT] <option>;
 * `ORRERY_<SECTION>__<OPTION>` overrides [<section>] <option> (case-insensitive).
 * Every option has a default in the option table (options.ts), so no file is needed.
 */
export type IniData = Record<string, Record<string, string>>;

export function parseIni(text: string): IniData {
  const out: IniData = { DEFAULT: {} };
  let section = 'DEFAULT';
  for (const raw of text.split(/\r?\n/)) {
    const line = raw.trim();
    if (line === '' || line.startsWith('#') || line.startsWith(';')) continue;
    const header = /^\[([^\]]+)\]$/.exec(line);
    if (header) {
      section = header[1]!.trim();
      out[section] ??= {};
      continue;
    }
    const eq = line.indexOf('=');
    if (eq < 0) throw new Error(`config: cannot parse line "${line}"`);
    out[section]![line.slice(0, eq).trim()] = line.slice(eq + 1).trim();
  }
  return out;
}

/** The text parseIni reads back: each section's `key = value` lines under its header. */
export function formatIni(data: IniData): string {
  return Object.entries(data).map(([section, opts]) => `[${section}]\n${Object.entries(opts).map(([k, v]) => `${k} = ${v}\n`).join('')}`).join('\n');
}

/** Every option's default, from the option table (src/common/options.ts). */
const DEFAULTS: IniData = optionDefaults();

/** A configuration value that does not fit its option's definition (start-up prints the message and exits 1). */
export class ConfigError extends Error {}

export class Config {
  private readonly data: IniData;

  /** @param path the file the options came from: relative paths in it (policy_file) are relative to its folder. */
  constructor(file?: IniData, private readonly env: NodeJS.ProcessEnv = process.env, readonly path?: string) {
    this.data = {};
    for (const src of [DEFAULTS, file ?? {}]) {
      for (const [section, opts] of Object.entries(src)) {
        this.data[section] = { ...(this.data[section] ?? {}), ...opts };
      }
    }
  }

  static load(path?: string, env: NodeJS.ProcessEnv = process.env): Config {
    const file = path ?? env.ORRERY_CONFIG;
    return new Config(file ? parseIni(readFileSync(file, 'utf8')) : undefined, env, file ? resolve(file) : undefined);
  }

  /** A copy with some options replaced (tests and the all-in-one use it). */
  with(overrides: IniData): Config {
    const merged: IniData = {};
    for (const [s, o] of Object.entries(this.data)) merged[s] = { ...o };
    for (const [s, o] of Object.entries(overrides)) merged[s] = { ...(merged[s] ?? {}), ...o };
    return new Config(merged, this.env, this.path);
  }

  /** Raw string value, env override first, `$state_path` expanded; undefined when unset. */
  opt(section: string, name: string): string | undefined {
    const envName =
      section === 'DEFAULT' ? `ORRERY_${name}` : `ORRERY_${section}__${name}`;
    const fromEnv = this.env[envName.toUpperCase()];
    const value = fromEnv ?? this.data[section]?.[name];
    if (value === undefined) return undefined;
    if (value.includes('$state_path') && name !== 'state_path') {
      return value.replaceAll('$state_path', this.str('DEFAULT', 'state_path'));
    }
    return value;
  }

  str(section: string, name: string): string {
    const v = this.opt(section, name);
    if (v === undefined) throw new Error(`config: [${section}] ${name} is not set`);
    return v;
  }

  /** The value, or the option's default (from the table) when it is unset or set empty. */
  optOrDefault(section: string, name: string): string {
    const v = this.opt(section, name);
    if (v !== undefined && v !== '') return v;
    return (optionDef(section, name)?.default ?? '').replaceAll('$state_path', this.str('DEFAULT', 'state_path'));
  }

  num(section: string, name: string): number {
    const v = Number(this.str(section, name));
    if (!Number.isFinite(v)) throw new Error(`config: [${section}] ${name} must be a number`);
    return v;
  }

  bool(section: string, name: string): boolean {
    return /^(1|true|yes|on)$/i.test(this.str(section, name));
  }

  list(section: string, name: string): string[] {
    return (this.opt(section, name) ?? '').split(',').map((s) => s.trim()).filter(Boolean);
  }

  /** All options of one section (for a driver's own section), including those set only in the environment. */
  section(section: string): Record<string, string> {
    const names = new Set(Object.keys(this.data[section] ?? {}));
    const prefix = (section === 'DEFAULT' ? 'ORRERY_' : `ORRERY_${section}__`).toUpperCase();
    for (const key of Object.keys(this.env)) {
      if (key.toUpperCase().startsWith(prefix) && (section !== 'DEFAULT' || !key.includes('__'))) {
        names.add(key.slice(prefix.length).toLowerCase());
      }
    }
    const out: Record<string, string> = {};
    for (const k of names) out[k] = this.opt(section, k)!;
    return out;
  }

  /**
   * Every known option whose value (from the file or the environment) does not fit its
   * definition, as one line each: `[api] compute_port = "x": must be an integer`. Options the
   * table does not know are left alone (driver sections are checked by their drivers).
   */
  problems(): string[] {
    const out: string[] = [];
    for (const [section, opts] of Object.entries(OPTIONS)) {
      for (const name of Object.keys(opts)) {
        const def = optionDef(section, name)!;
        const value = this.opt(section, name) ?? '';
        const why = optionProblem(def, value);
        if (why) out.push(`[${section}] ${name} = ${JSON.stringify(def.secret ? '***' : value)}: ${why}`);
      }
    }
    return out;
  }

  /** Throws a ConfigError naming the first bad value (start-up calls it before opening anything). */
  validate(): this {
    const bad = this.problems();
    if (bad.length > 0) throw new ConfigError(`bad configuration value: ${bad[0]}${bad.length > 1 ? ` (and ${bad.length - 1} more)` : ''}`);
    return this;
  }

  /** A path option resolved as oslo.config does: relative to the configuration file's folder (else the working directory). */
  configRelative(p: string): string {
    return resolve(this.path ? dirname(this.path) : '.', p);
  }

  statePath(...parts: string[]): string {
    return resolve(this.str('DEFAULT', 'state_path'), ...parts);
  }
}
