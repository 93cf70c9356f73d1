/**
 * Loading drivers by name. A spec is one of:
 *  - a bundled driver's short name (`fake`), mapped by `bundled` to a package name or path;
 *  - an npm package name (`orrery-driver-foo`, `@acme/orrery-driver`), resolved from baseDir
 *    so a driver installed beside the deployment is found, not only beside this package;
 *  - a file or directory path, absolute or starting with `.` (relative to baseDir).
 * The module's default export, or its named export `createDriver`, is the factory; its named
 * export `driverOptions` (optional) documents its configuration section.
 */
import { existsSync, readFileSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { Capabilities, DriverVersionInfo, VirtDriver } from './contract.js';
import { DriverLoadError } from './errors.js';
import type { DriverOptions } from './options.js';
import { guardDriver, type GuardedVirtDriver, type GuardOptions } from './guard.js';
import { declaredLaterCapabilities } from './capabilities.js';
import { agreeContract, requiredMethods, SUPPORTED_CONTRACT } from './version.js';

export type DriverFactory = () => VirtDriver | Promise<VirtDriver>;

export interface LoadOptions {
  /** Short names of the drivers shipped with the service, e.g. { fake: '@orrery/driver-fake' }. */
  bundled?: Record<string, string>;
  /** Where relative paths and package names are resolved from (default: process.cwd()). */
  baseDir?: string;
  /** Options for the guard wrapped around the loaded driver. */
  guard?: GuardOptions;
  /** The contract range this service drives (default SUPPORTED_CONTRACT). */
  speaks?: { min: string; max: string };
}

function fail(spec: string, why: string, cause?: unknown): DriverLoadError {
  return new DriverLoadError('DriverLoadFailed', `cannot load driver "${spec}": ${why}`, { cause });
}

function isPathSpec(s: string): boolean {
  return isAbsolute(s) || s.startsWith('.') || s.startsWith('file:');
}

/** The entry file of a package directory: exports["."] (import/node/default), main, or index.js. */
function packageEntry(dir: string): string {
  const pj = join(dir, 'package.json');
  if (!existsSync(pj)) return join(dir, 'index.js');
  const pkg = JSON.parse(readFileSync(pj, 'utf8')) as { exports?: unknown; main?: string };
  return resolve(dir, pickExport(pkg.exports) ?? pkg.main ?? 'index.js');
}

function pickExport(e: unknown): string | undefined {
  if (typeof e === 'string') return e;
  if (typeof e !== 'object' || e === null || Array.isArray(e)) return undefined;
  const map = e as Record<string, unknown>;
  if (Object.keys(map).some((k) => k.startsWith('.'))) return pickExport(map['.']);
  for (const cond of ['import', 'node', 'default']) {
    const hit = pickExport(map[cond]);
    if (hit !== undefined) return hit;
  }
  return undefined;
}

/** The URL (or bare specifier, as a last resort) of the module a spec names. */
function resolveModule(spec: string, opts: LoadOptions): string {
  const bundled = opts.bundled ?? {};
  const target = Object.hasOwn(bundled, spec) ? bundled[spec]! : spec;
  const baseDir = opts.baseDir ?? process.cwd();
  if (isPathSpec(target)) {
    const path = target.startsWith('file:') ? fileURLToPath(target) : resolve(baseDir, target);
    if (!existsSync(path)) throw fail(spec, `no such file or directory: ${path}`);
    return pathToFileURL(statSync(path).isDirectory() ? packageEntry(path) : path).href;
  }
  if (!/^(@[a-z0-9][\w.-]*\/)?[a-z0-9][\w.-]*$/i.test(target)) throw fail(spec, 'not a package name or a path (paths start with . or /)');
  for (let dir = resolve(baseDir); ; dir = dirname(dir)) {
    const pkgDir = join(dir, 'node_modules', target);
    if (existsSync(join(pkgDir, 'package.json'))) return pathToFileURL(packageEntry(pkgDir)).href;
    if (dirname(dir) === dir) break;
  }
  return target; // let Node resolve it from here (e.g. a package hoisted beside this one)
}

async function importDriverModule(spec: string, opts: LoadOptions): Promise<{ default?: unknown; createDriver?: unknown; driverOptions?: unknown }> {
  const url = resolveModule(spec, opts);
  try {
    return (await import(url)) as { default?: unknown; createDriver?: unknown; driverOptions?: unknown };
  } catch (err) {
    throw fail(spec, err instanceof Error ? err.message : String(err), err);
  }
}

/** Imports a driver module and returns its factory, without calling it. */
export async function importDriverFactory(spec: string, opts: LoadOptions = {}): Promise<DriverFactory> {
  const mod = await importDriverModule(spec, opts);
  const factory = typeof mod.default === 'function' ? mod.default : mod.createDriver;
  if (typeof factory !== 'function') throw fail(spec, 'the module has no default export or createDriver() factory');
  return factory as DriverFactory;
}

/**
 * The options of a driver's own section, as its module's `driverOptions` export publishes them
 * (the configuration reference documents them); {} when it publishes none.
 */
export async function importDriverOptions(spec: string, opts: LoadOptions = {}): Promise<DriverOptions> {
  const { driverOptions } = await importDriverModule(spec, opts);
  if (driverOptions === undefined) return {};
  if (typeof driverOptions !== 'object' || driverOptions === null) throw fail(spec, 'its driverOptions export is not an object');
  return driverOptions as DriverOptions;
}

/**
 * Loads a driver and prepares it (prepareDriver). Throws DriverLoadError; an incompatible
 * driver is refused with code IncompatibleContract and a message naming both versions.
 */
export async function loadDriver(spec: string, opts: LoadOptions = {}): Promise<GuardedVirtDriver> {
  const factory = await importDriverFactory(spec, opts);
  let driver: VirtDriver;
  try {
    driver = await factory();
  } catch (err) {
    throw fail(spec, `its factory threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  return prepareDriver(driver, opts, spec);
}

/**
 * The loader's checks on a driver object already made: the version handshake (agreeContract:
 * the highest version both ranges share, and the optional groups that count), then every
 * method of the agreed contract — only those: a 1.0 driver needs none of 1.1's, and a 1.2
 * driver the move calls only of the move capabilities it declares. Answers the driver guarded
 * (guardDriver) under that agreement.
 */
export function prepareDriver(driver: VirtDriver, opts: Pick<LoadOptions, 'guard' | 'speaks'> = {}, spec = '(driver object)'): GuardedVirtDriver {
  if (typeof driver !== 'object' || driver === null) throw fail(spec, 'its factory did not return a driver object');
  const has = (m: string): boolean => typeof (driver as unknown as Record<string, unknown>)[m] === 'function';
  if (!has('version')) throw fail(spec, 'the driver lacks contract methods: version');
  let info: DriverVersionInfo;
  try {
    info = driver.version();
  } catch (err) {
    throw fail(spec, `version() threw: ${err instanceof Error ? err.message : String(err)}`, err);
  }
  const contract = agreeContract(info, opts.speaks ?? SUPPORTED_CONTRACT);
  const caps = declaredBeforeInit(driver);
  const missing = requiredMethods(contract, caps).filter((m) => !has(m));
  if (missing.length > 0) {
    const gated = caps ? declaredLaterCapabilities(caps) : [];
    const also = [...contract.groups, ...gated.map((c) => `capability ${c}`)];
    throw fail(spec, `the driver lacks contract methods: ${missing.join(', ')} (agreed contract ${contract.version}${
      also.length > 0 ? ` with ${also.join(', ')}` : ''})`);
  }
  return guardDriver(driver, { ...opts.guard, contract });
}

/**
 * The capabilities a driver declares before init, if it answers: enough to demand the calls of
 * the later capabilities it declares (coldMigration, liveMigration) at load. The declaration is
 * final only once init resolved, so the guard checks again then.
 */
function declaredBeforeInit(driver: VirtDriver): Capabilities | undefined {
  try {
    const caps = driver.capabilities();
    return typeof caps === 'object' && caps !== null ? caps : undefined;
  } catch {
    return undefined;
  }
}
