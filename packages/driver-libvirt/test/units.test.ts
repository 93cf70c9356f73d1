// The libvirt driver's pure parts: event lines, state mapping, domain XML, configuration.
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { PowerState } from '@orrery/virt-api';
import { cacheKey, domainXml, interfaceXml, lifecyclePowerState, nicsOf, parseConfig, parseEventLine, powerStateOf, serialPortIn, vncPortIn } from '@orrery/driver-libvirt';

describe('libvirt driver: parsing and mapping', () => {
  it('parses virsh event lines and skips continuation lines', () => {
    assert.deepEqual(parseEventLine("event 'lifecycle' for domain 'orrery-h-1': Stopped Destroyed"), {
      kind: 'lifecycle', domain: 'orrery-h-1', event: 'Stopped', detail: 'Destroyed',
    });
    assert.deepEqual(parseEventLine("2026-11-21 01:13:57.600+0000: event 'lifecycle' for domain 'd': Shutdown Finished after guest request"), {
      kind: 'lifecycle', domain: 'd', event: 'Shutdown', detail: 'Finished after guest request',
    });
    assert.deepEqual(parseEventLine("event 'reboot' for domain 'orrery-h-2'"), { kind: 'reboot', domain: 'orrery-h-2', event: '', detail: '' });
    assert.equal(parseEventLine('\toperation: 2'), null);
    assert.equal(parseEventLine('events received: 3'), null);
  });

  it('maps lifecycle events and virsh states to power states as Nova does', () => {
    assert.equal(lifecyclePowerState('Started', 'Booted'), PowerState.RUNNING);
    assert.equal(lifecyclePowerState('Resumed', 'Snapshot'), PowerState.RUNNING);
    assert.equal(lifecyclePowerState('Suspended', 'Paused'), PowerState.PAUSED);
    assert.equal(lifecyclePowerState('Stopped', 'Saved'), PowerState.SUSPENDED);
    assert.equal(lifecyclePowerState('Stopped', 'Failed'), PowerState.SHUTDOWN); // QEMU killed
    assert.equal(lifecyclePowerState('Stopped', 'Destroyed'), PowerState.SHUTDOWN);
    assert.equal(lifecyclePowerState('Shutdown', 'Finished'), null);
    assert.equal(lifecyclePowerState('Defined', 'Added'), null);
    assert.equal(powerStateOf('running'), PowerState.RUNNING);
    assert.equal(powerStateOf('paused'), PowerState.PAUSED);
    assert.equal(powerStateOf('shut off'), PowerState.SHUTDOWN);
    assert.equal(powerStateOf('shut off', true), PowerState.SUSPENDED);
    assert.equal(powerStateOf('saved'), PowerState.SUSPENDED);
    assert.equal(powerStateOf('crashed'), PowerState.CRASHED);
  });

  it('writes domain XML with escaped values, direct kernel boot and the TCG cache size', () => {
    const xml = domainXml({
      name: 'orrery-h-u', uuid: '11111111-2222-3333-4444-555555555555', virtType: 'qemu', machineType: 'pc', memoryMb: 128,
      vcpus: 1, tbCacheMb: 32, kernel: { kernel: '/c/k', ramdisk: '/c/r', cmdline: 'console=ttyS0 a<b' },
      disks: [{ path: '/i/disk', format: 'qcow2', target: 'vda' }], consoleLog: '/i/console.log', nics: [],
      consoles: { listen: '127.0.0.1', serialPort: 10042 },
      metadata: { name: `it's <mine> & yours` },
    });
    assert.match(xml, /<domain type='qemu'>/);
    assert.match(xml, /<tb-cache unit='MiB'>32<\/tb-cache>/);
    assert.match(xml, /<kernel>\/c\/k<\/kernel>\s*<initrd>\/c\/r<\/initrd>\s*<cmdline>console=ttyS0 a&lt;b<\/cmdline>/);
    assert.match(xml, /<orrery:name>it&apos;s &lt;mine&gt; &amp; yours<\/orrery:name>/);
    assert.match(xml, /<log file='\/i\/console.log' append='on'\/>/);
    // Nova's consoles: ttyS0 a raw TCP server on its own port (still logged), VNC on the same address by autoport.
    assert.match(xml, /<serial type='tcp'>\s*<source mode='bind' host='127.0.0.1' service='10042'\/>\s*<protocol type='raw'\/>\s*<log file='\/i\/console.log'/);
    assert.match(xml, /<graphics type='vnc' autoport='yes' listen='127.0.0.1'>/);
    assert.equal(serialPortIn(xml), 10042);
    assert.equal(vncPortIn(xml), null, 'no port until libvirt starts it');
    assert.equal(vncPortIn("<graphics type='vnc' port='5901' autoport='yes' listen='127.0.0.1'>"), 5901);
    assert.equal(vncPortIn("<graphics type='vnc' port='-1' autoport='yes'>"), null);
    const kvm = domainXml({
      name: 'n', uuid: '11111111-2222-3333-4444-555555555555', virtType: 'kvm', machineType: 'pc', memoryMb: 128, vcpus: 2,
      tbCacheMb: 32, kernel: null, disks: [], consoleLog: '/l', nics: [{ mac: 'fa:16:3e:00:00:01' }], metadata: {},
      consoles: { listen: '127.0.0.1', serialPort: 10043 },
    });
    assert.doesNotMatch(kvm, /tb-cache/);
    assert.match(kvm, /<boot dev='hd'\/>/);
    assert.match(kvm, /<interface type='user'>\s*<mac address='fa:16:3e:00:00:01'\/>/);
  });

  it('writes a bound port as a tap on its bridge (linuxbridge), with its MTU; an unbound one as a user-mode NIC', () => {
    const xml = domainXml({
      name: 'n', uuid: '11111111-2222-3333-4444-555555555555', virtType: 'qemu', machineType: 'pc', memoryMb: 128, vcpus: 1,
      tbCacheMb: 0, kernel: null, disks: [], consoleLog: '/l', metadata: {}, consoles: { listen: '127.0.0.1', serialPort: 10044 },
      nics: nicsOf([
        { mac: 'fa:16:3e:00:00:01', bridge: 'brq3f2a9c1e-0b', devName: 'tap9d8c7b6a-5f', mtu: 1450 },
        { mac: 'fa:16:3e:00:00:02' },
      ]),
    });
    assert.match(xml, new RegExp([
      "<interface type='bridge'>", "<mac address='fa:16:3e:00:00:01'/>", "<source bridge='brq3f2a9c1e-0b'/>", "<target dev='tap9d8c7b6a-5f'/>",
      "<model type='virtio'/>", "<mtu size='1450'/>", '</interface>', "<interface type='user'>", "<mac address='fa:16:3e:00:00:02'/>",
    ].join('\\s*')));
    assert.equal(interfaceXml({ mac: 'fa:16:3e:00:00:03', bridge: 'b' }, ''), [
      "<interface type='bridge'>", "  <mac address='fa:16:3e:00:00:03'/>", "  <source bridge='b'/>", "  <model type='virtio'/>", '</interface>',
    ].join('\n'));
  });

  it('takes the host network namespace as an absolute path', () => {
    assert.equal(parseConfig('/s', {}).hostNetns, '');
    assert.equal(parseConfig('/s', { host_netns: '/run/netns/h1' }).hostNetns, '/run/netns/h1');
    assert.throws(() => parseConfig('/s', { host_netns: 'h1' }), /host_netns must be an absolute path/);
    assert.throws(() => parseConfig('/s', { host_netns: '/run/netns/../x' }), /host_netns/);
  });

  it('reads its configuration with defaults and refuses bad values', () => {
    const c = parseConfig('/state', {});
    assert.deepEqual([c.connectionUri, c.virtType, c.instancesPath, c.imageCachePath, c.minMemoryMb, c.tbCacheMb],
      ['qemu:///system', 'qemu', '/state/instances', '/state/instances/_base', 128, 32]);
    assert.equal(parseConfig('/s', { virt_type: 'KVM' }).virtType, 'kvm');
    assert.throws(() => parseConfig('/s', { virt_type: 'xen' }), /virt_type must be qemu or kvm/);
    assert.deepEqual([c.consoleListen, c.serialPortRange], ['127.0.0.1', { min: 10000, max: 20000 }]);
    assert.deepEqual(parseConfig('/s', { serial_port_range: '12000:12009' }).serialPortRange, { min: 12000, max: 12009 });
    assert.throws(() => parseConfig('/s', { serial_port_range: '20:10' }), /serial_port_range/);
    assert.throws(() => parseConfig('/s', { console_listen: "127.0.0.1' x='" }), /console_listen/);
    assert.throws(() => parseConfig('/s', { wait_soft_reboot_seconds: '-1' }), /wait_soft_reboot_seconds/);
  });

  it('narrows the image formats it declares to the ones configured', () => {
    assert.deepEqual(parseConfig('/s', {}).imageFormats, ['qcow2', 'raw', 'ami']);
    assert.deepEqual(parseConfig('/s', { image_formats: ' QCOW2, ami,qcow2 ' }).imageFormats, ['qcow2', 'ami']);
    assert.throws(() => parseConfig('/s', { image_formats: 'qcow2,vmdk' }), /image_formats may list qcow2, raw, ami/);
  });

  it('names cache files by image id, hashing anything that is not a plain name', () => {
    assert.equal(cacheKey('0c2a5b0e-2d1c-4a4e-9d5c-2f1f3c6d7e8f'), '0c2a5b0e-2d1c-4a4e-9d5c-2f1f3c6d7e8f');
    assert.match(cacheKey('../etc/passwd'), /^h-[0-9a-f]{64}$/);
  });
});
