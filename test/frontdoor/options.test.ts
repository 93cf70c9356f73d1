import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { optionProblem, type DriverOptions } from '@orrery/virt-api';
import { driverOptions as fakeOptions, parseConfig as parseFake } from '@orrery/driver-fake';
import { driverOptions as libvirtOptions, parseConfig as parseLibvirt } from '@orrery/driver-libvirt';
import { Config, ConfigError } from '../../src/common/config.js';
import { OPTIONS, SECTION_HELP, type OptionTable } from '../../src/common/options.js';

/** Every definition of a table: help written, default fitting its own type. */
function checkDefs(where: string, opts: DriverOptions): void {
  for (const [name, def] of Object.entries(opts)) {
    assert.match(name, /^[a-z][a-z0-9_]*$/, `${where} ${name}: option names are lower_snake_case`);
    assert.ok(def.help.trim().length >= 10, `${where} ${name}: needs a help text`);
    assert.ok(!/\n/.test(def.help), `${where} ${name}: help is one paragraph`);
    assert.equal(optionProblem(def, def.default.replaceAll('$state_path', '/x')), null, `${where} ${name}: default ${def.default} does not fit`);
  }
}

describe('option table', () => {
  it('documents every option of the service and of the bundled drivers', () => {
    const table: OptionTable = OPTIONS;
    for (const [section, opts] of Object.entries(table)) {
      assert.ok(Object.hasOwn(SECTION_HELP, section), `[${section}] has no section help`);
      checkDefs(`[${section}]`, opts);
    }
    checkDefs('[fake]', fakeOptions);
    checkDefs('[libvirt]', libvirtOptions);
  });

  it('gives Config its defaults', () => {
    const c = new Config(undefined, {});
    assert.equal(c.str('api', 'compute_port'), '8774');
    assert.equal(c.num('quota', 'instances'), 10);
    assert.equal(c.opt('credential', 'key_repository'), './data/credential-keys');
    assert.equal(c.optOrDefault('network_agent', 'poll_interval'), '2');
    assert.equal(c.with({ network_agent: { poll_interval: '' } }).optOrDefault('network_agent', 'poll_interval'), '2');
  });

  it("drivers' parsers fall back on their tables' defaults", () => {
    const fake = parseFake('h1', {});
    assert.equal(fake.vcpus, Number(fakeOptions.vcpus.default));
    assert.equal(fake.liveMigrationMs, Number(fakeOptions.live_migration_ms.default));
    const lv = parseLibvirt('/state', {});
    assert.equal(lv.tbCacheMb, Number(libvirtOptions.tb_cache_mb.default));
    assert.equal(lv.connectionUri, libvirtOptions.connection_uri.default);
  });

  it('refuses a value that does not fit, naming the option, from the file or the environment', () => {
    assert.deepEqual(new Config(undefined, {}).problems(), []);
    const badFile = new Config({ api: { compute_port: 'eighty' } }, {});
    assert.throws(() => badFile.validate(), (e: unknown) => e instanceof ConfigError && e.message === 'bad configuration value: [api] compute_port = "eighty": must be an integer');
    const badEnv = new Config(undefined, { ORRERY_API__COMPUTE_PORT: '70000', ORRERY_ALLOW_RESIZE_TO_SAME_HOST: 'maybe' });
    assert.deepEqual(badEnv.problems(), ['[DEFAULT] allow_resize_to_same_host = "maybe": must be true or false', '[api] compute_port = "70000": must be at most 65535']);
    const badChoice = new Config({ identity: { password_hash_algorithm: 'md5' } }, {});
    assert.deepEqual(badChoice.problems(), ['[identity] password_hash_algorithm = "md5": must be one of pbkdf2_sha512, scrypt']);
  });

  it('never repeats a secret in its complaint', () => {
    const c = new Config({ DEFAULT: { transport_url: 'rabbit://u:hunter2@h/\0' } }, {});
    assert.deepEqual(c.problems(), ['[DEFAULT] transport_url = "***": must not contain NUL']);
  });
});
