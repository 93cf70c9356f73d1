import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { bundledDriverSections, configReference, configSample } from '../../src/cmd/config-docs.js';
import { Config, parseIni } from '../../src/common/config.js';
import { OPTIONS } from '../../src/common/options.js';
import { BUNDLED_DRIVERS } from '../../src/cmd/services.js';

const root = join(import.meta.dirname, '../..');
const REGENERATE = 'out of date: run `npm run config-docs` and commit the result';

describe('configuration reference', () => {
  it('docs/configuration.md and etc/orrery.conf.sample are what the code generates', async () => {
    const drivers = await bundledDriverSections();
    assert.equal(readFileSync(join(root, 'docs/configuration.md'), 'utf8'), configReference(drivers), `docs/configuration.md is ${REGENERATE}`);
    assert.equal(readFileSync(join(root, 'etc/orrery.conf.sample'), 'utf8'), configSample(drivers), `etc/orrery.conf.sample is ${REGENERATE}`);
  });

  it('documents every bundled driver with options of its own', async () => {
    const drivers = await bundledDriverSections();
    assert.deepEqual(drivers.map((d) => d.name), Object.keys(BUNDLED_DRIVERS));
    for (const d of drivers) assert.ok(Object.keys(d.options).length > 0, `driver ${d.name} exports no driverOptions`);
  });

  it('the sample, uncommented, is a configuration with every default', async () => {
    const text = configSample(await bundledDriverSections()).replace(/^#([a-z][a-z0-9_]* = )/gm, '$1');
    const ini = parseIni(text);
    for (const [section, opts] of Object.entries(OPTIONS)) {
      for (const [name, def] of Object.entries(opts)) assert.equal(ini[section]?.[name], def.default, `[${section}] ${name}`);
    }
    assert.deepEqual(new Config(ini, {}).problems(), []);
  });
});
