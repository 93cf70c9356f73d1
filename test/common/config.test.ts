import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { Config, parseIni } from '../../src/common/config.js';

describe('configuration', () => {
  it('parses INI sections with Nova option names, and needs no file', () => {
    const c = new Config(parseIni('[DEFAULT]\ncompute_driver = libvirt\n# a comment\n[database]\nconnection = sqlite://\n'), {});
    assert.equal(c.str('DEFAULT', 'compute_driver'), 'libvirt');
    assert.equal(c.str('database', 'connection'), 'sqlite://');
    assert.equal(new Config(undefined, {}).num('DEFAULT', 'cpu_allocation_ratio'), 16);
  });

  it('lets the environment override the file, for options of any section', () => {
    const env = { ORRERY_COMPUTE_DRIVER: 'fake', ORRERY_FAKE__MEMORY_MB: '2048', ORRERY_API__COMPUTE_PORT: '0' };
    const c = new Config(parseIni('compute_driver = libvirt\n[fake]\nvcpus = 4\n'), env);
    assert.equal(c.str('DEFAULT', 'compute_driver'), 'fake');
    assert.equal(c.num('api', 'compute_port'), 0);
    // A driver's section includes options set only in the environment.
    assert.deepEqual(c.section('fake'), { vcpus: '4', memory_mb: '2048' });
  });

  it('expands $state_path', () => {
    const c = new Config(parseIni('state_path = /srv/orrery\n'), {});
    assert.equal(c.str('database', 'connection'), 'sqlite:////srv/orrery/orrery.sqlite');
  });
});
