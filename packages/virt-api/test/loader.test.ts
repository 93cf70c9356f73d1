// loadDriver: by bundled name, by package name, by path; the handshake refuses what it cannot drive.
import assert from 'node:assert/strict';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { DRIVER_METHODS, isDriverError, loadDriver } from '@orrery/virt-api';

/** Source of a dependency-free driver module named `name` implementing contract min–max. */
function driverSource(name: string, opts: { min?: string; max?: string; exportAs?: 'default' | 'createDriver'; omit?: string } = {}): string {
  const methods = DRIVER_METHODS.filter((m) => m !== opts.omit).map((m) => {
    if (m === 'version') return `version: () => ({ name: ${JSON.stringify(name)}, driverVersion: '0.0.1', contract: { min: '${opts.min ?? '1.0'}', max: '${opts.max ?? '1.0'}' } })`;
    if (m === 'capabilities') return `capabilities: () => ({ pause: false, suspend: false, reboot: false, powerControl: false, rebuild: false, snapshot: false, consoleOutput: false, multiNode: false, imageFormats: ['raw'], hypervisorType: 'tmp' })`;
    if (m === 'onEvent') return 'onEvent: () => () => {}';
    if (m === 'listNodes' || m === 'listInstances') return `${m}: async () => []`;
    return `${m}: async () => { throw new Error('${m} boom'); }`;
  });
  const factory = `() => ({ ${methods.join(',\n  ')} })`;
  return opts.exportAs === 'createDriver' ? `export const createDriver = ${factory};\n` : `export default ${factory};\n`;
}

let dir: string;

before(async () => {
  dir = await mkdtemp(join(tmpdir(), 'orrery-loader-'));
  const write = async (path: string, text: string) => {
    await mkdir(join(dir, path, '..'), { recursive: true });
    await writeFile(join(dir, path), text);
  };
  // An npm package with import-only exports, installed beside the deployment (baseDir).
  await write('node_modules/orrery-driver-pkg/package.json', JSON.stringify({
    name: 'orrery-driver-pkg', type: 'module', exports: { '.': { import: './lib/main.js' } },
  }));
  await write('node_modules/orrery-driver-pkg/lib/main.js', driverSource('pkg'));
  await write('node_modules/@acme/orrery-driver/package.json', JSON.stringify({ name: '@acme/orrery-driver', type: 'module', main: 'd.js' }));
  await write('node_modules/@acme/orrery-driver/d.js', driverSource('acme', { exportAs: 'createDriver' }));
  // Drivers by path: a file, and a directory with a package.json.
  await write('package.json', JSON.stringify({ type: 'module' }));
  await write('drivers/single.js', driverSource('single'));
  await write('drivers/dir/package.json', JSON.stringify({ type: 'module', main: 'entry.js' }));
  await write('drivers/dir/entry.js', driverSource('dir', { min: '1.0', max: '1.4' }));
  await write('drivers/future.js', driverSource('future', { min: '2.0', max: '2.1' }));
  await write('drivers/partial.js', driverSource('partial', { omit: 'snapshot' }));
  await write('drivers/nofactory.js', 'export const answer = 42;\n');
});

after(() => rm(dir, { recursive: true, force: true }));

describe('loadDriver', () => {
  it('loads a bundled driver by its short name', async () => {
    const d = await loadDriver('pkgdrv', { bundled: { pkgdrv: 'orrery-driver-pkg' }, baseDir: dir });
    assert.equal(d.version().name, 'pkg');
  });

  it('loads npm packages (plain and scoped) resolved from baseDir', async () => {
    assert.equal((await loadDriver('orrery-driver-pkg', { bundled: {}, baseDir: dir })).version().name, 'pkg');
    assert.equal((await loadDriver('@acme/orrery-driver', { bundled: {}, baseDir: dir })).version().name, 'acme');
  });

  it('loads a file or a package directory by path, relative to baseDir or absolute', async () => {
    assert.equal((await loadDriver('./drivers/single.js', { bundled: {}, baseDir: dir })).version().name, 'single');
    assert.equal((await loadDriver('./drivers/dir', { bundled: {}, baseDir: dir })).version().name, 'dir');
    assert.equal((await loadDriver(join(dir, 'drivers/dir'), { bundled: {} })).version().name, 'dir');
  });

  it('returns the driver guarded: raw errors arrive as DriverFault', async () => {
    const d = await loadDriver('./drivers/single.js', { bundled: {}, baseDir: dir });
    const err = await d.getInstance({ uuid: 'u', node: 'n' }).catch((e: unknown) => e);
    assert.ok(isDriverError(err, 'DriverFault'));
    assert.match((err as Error).message, /getInstance boom/);
  });

  it('refuses an incompatible driver with a clear message', async () => {
    await assert.rejects(loadDriver('./drivers/future.js', { bundled: {}, baseDir: dir }), {
      code: 'IncompatibleContract',
      message: 'driver future implements contract 2.0–2.1; this compute service speaks 1.0–1.4',
    });
  });

  it('refuses modules that are not drivers, and names that lead nowhere', async () => {
    const opts = { bundled: {}, baseDir: dir };
    await assert.rejects(loadDriver('./drivers/partial.js', opts), /lacks contract methods: snapshot/);
    await assert.rejects(loadDriver('./drivers/nofactory.js', opts), /no default export or createDriver\(\) factory/);
    await assert.rejects(loadDriver('./drivers/missing', opts), { code: 'DriverLoadFailed', message: /no such file or directory/ });
    await assert.rejects(loadDriver('orrery-driver-nowhere', opts), { code: 'DriverLoadFailed', message: /cannot load driver "orrery-driver-nowhere"/ });
  });
});
