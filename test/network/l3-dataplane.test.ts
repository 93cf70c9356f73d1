import assert from 'node:assert/strict';
import { execFileSync, spawnSync } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { L3Dataplane, type L3Router } from '../../packages/net-linux/src/l3.js';
import { CommandRunner } from '../../packages/net-linux/src/runner.js';
import { backendSkip, commandExists } from '../support/backends.js';

/**
 * The L3 data plane for real, in namespaces this test makes: a "host" namespace holding an
 * internal bridge and an external bridge (as the L2 agent would), a "guest" namespace on the
 * internal one (10.50.0.5, default via the router's 10.50.0.1) and an "external" namespace on
 * the external one (172.30.4.100, with no route back to 10.50.0.0/24: only NAT can answer it).
 */

function canNetns(): boolean {
  if (process.getuid?.() !== 0 || !commandExists('ip') || !commandExists('nft') || !commandExists('nsenter') || !commandExists('busybox')) return false;
  const probe = `l3probe-${randomBytes(3).toString('hex')}`;
  const ok = spawnSync('ip', ['netns', 'add', probe]).status === 0;
  if (ok) spawnSync('ip', ['netns', 'del', probe]);
  return ok;
}

const skip = backendSkip('root with ip netns and nft', canNetns());
const sfx = randomBytes(3).toString('hex');
const HOST = `l3h-${sfx}`;
const GUEST = `l3g-${sfx}`;
const EXT = `l3x-${sfx}`;
const hostPath = `/run/netns/${HOST}`;
/** The simulated host's prefix for its router namespaces (they share this machine's /run/netns). */
const PREFIX = `t${sfx}-`;

function sh(ns: string | null, ...argv: string[]): string {
  const full = ns ? ['ip', 'netns', 'exec', ns, ...argv] : argv;
  return execFileSync(full[0]!, full.slice(1), { encoding: 'utf8' });
}

function pings(ns: string, addr: string): boolean {
  return spawnSync('ip', ['netns', 'exec', ns, 'busybox', 'ping', '-c', '1', '-W', '1', addr]).status === 0;
}

function ifindex(ns: string, dev: string): number {
  return (JSON.parse(sh(ns, 'ip', '-j', 'link', 'show', 'dev', dev)) as Array<{ ifindex: number }>)[0]!.ifindex;
}

describe('L3 data plane (router namespaces, SNAT, floating IPs)', { skip }, () => {
  const routerId = randomUUID();
  const ns = `${PREFIX}qrouter-${routerId}`;
  const intPort = randomUUID();
  const gwPort = randomUUID();
  const stateDir = mkdtempSync(join(tmpdir(), 'l3state-'));
  const l3 = new L3Dataplane({ runner: new CommandRunner({ netns: hostPath }), namespacePrefix: PREFIX, stateDir });

  function router(over: Partial<L3Router> = {}): L3Router {
    return {
      id: routerId, namespace: `qrouter-${routerId}`, admin_state_up: true, enable_snat: true, routes: [], floating_ips: [],
      interfaces: [{
        port_id: intPort, network_id: 'int', interface: `qr-${intPort.slice(0, 11)}`, tap_name: `tap${intPort.slice(0, 11)}`,
        bridge_name: `brqi${sfx}`, mac_address: 'fa:16:3e:00:00:01', mtu: 1450,
        fixed_ips: [{ subnet_id: 's1', ip_address: '10.50.0.1', prefixlen: 24, cidr: '10.50.0.0/24' }],
      }],
      gateway: {
        port_id: gwPort, network_id: 'ext', interface: `qg-${gwPort.slice(0, 11)}`, tap_name: `tap${gwPort.slice(0, 11)}`,
        bridge_name: `brqx${sfx}`, mac_address: 'fa:16:3e:00:00:02', mtu: 1500,
        fixed_ips: [{ subnet_id: 's2', ip_address: '172.30.4.10', prefixlen: 24, cidr: '172.30.4.0/24' }],
        gateway_ips: ['172.30.4.1'],
      },
      ...over,
    };
  }
  const fip = { id: 'f1', router_id: routerId, floating_ip_address: '172.30.4.20', floating_network_id: 'ext', fixed_ip_address: '10.50.0.5', port_id: 'p1' };

  before(() => {
    for (const n of [HOST, GUEST, EXT]) sh(null, 'ip', 'netns', 'add', n);
    for (const n of [HOST, GUEST, EXT]) sh(n, 'ip', 'link', 'set', 'lo', 'up');
    sh(HOST, 'ip', 'link', 'add', `brqi${sfx}`, 'type', 'bridge');
    sh(HOST, 'ip', 'link', 'add', `brqx${sfx}`, 'type', 'bridge');
    sh(HOST, 'ip', 'link', 'set', `brqi${sfx}`, 'up');
    sh(HOST, 'ip', 'link', 'set', `brqx${sfx}`, 'up');
    // The guest and the external machine, each a veth into its bridge.
    sh(HOST, 'ip', 'link', 'add', 'vg', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', GUEST);
    sh(HOST, 'ip', 'link', 'set', 'vg', 'master', `brqi${sfx}`, 'up');
    sh(GUEST, 'ip', 'addr', 'add', '10.50.0.5/24', 'dev', 'eth0');
    sh(GUEST, 'ip', 'link', 'set', 'eth0', 'mtu', '1450', 'up');
    sh(GUEST, 'ip', 'route', 'add', 'default', 'via', '10.50.0.1');
    sh(HOST, 'ip', 'link', 'add', 'vx', 'type', 'veth', 'peer', 'name', 'eth0', 'netns', EXT);
    sh(HOST, 'ip', 'link', 'set', 'vx', 'master', `brqx${sfx}`, 'up');
    sh(EXT, 'ip', 'addr', 'add', '172.30.4.100/24', 'dev', 'eth0');
    sh(EXT, 'ip', 'link', 'set', 'eth0', 'up');
    // Counts what reaches the external machine from the floating address (proves the 1:1 SNAT).
    sh(EXT, 'nft', 'add table ip t; add chain ip t in { type filter hook input priority 0; }; add rule ip t in ip saddr 172.30.4.20 counter');
  });

  after(() => {
    for (const n of [ns, HOST, GUEST, EXT]) spawnSync('ip', ['netns', 'del', n]);
    rmSync(stateDir, { recursive: true, force: true });
  });

  it('makes the router: the guest reaches the external network through SNAT to the gateway address', async () => {
    const up = await l3.sync({ routers: [router()], floating_ips: [] });
    assert.deepEqual(up.sort(), [intPort, gwPort].sort());
    assert.ok(existsSync(`/run/netns/${ns}`));
    assert.equal(sh(ns, 'sysctl', '-n', 'net.ipv4.ip_forward').trim(), '1');
    assert.ok(pings(GUEST, '10.50.0.1'), 'guest reaches its gateway');
    assert.ok(pings(GUEST, '172.30.4.100'), 'guest reaches the external machine (SNAT)');
    assert.ok(!pings(EXT, '10.50.0.5'), 'the external machine cannot reach the fixed address');
    assert.match(sh(ns, 'ip', 'route', 'show', 'default'), /via 172\.30\.4\.1 dev qg-/);
  });

  it('is idempotent: a second sync keeps every device (same ifindex)', async () => {
    const before1 = [ifindex(ns, `qr-${intPort.slice(0, 11)}`), ifindex(ns, `qg-${gwPort.slice(0, 11)}`), ifindex(HOST, `tap${intPort.slice(0, 11)}`)];
    await l3.sync({ routers: [router()], floating_ips: [] });
    // A fresh data plane (an agent restarted) converges without recreating either.
    await new L3Dataplane({ runner: new CommandRunner({ netns: hostPath }), namespacePrefix: PREFIX, stateDir }).sync({ routers: [router()], floating_ips: [] });
    const after1 = [ifindex(ns, `qr-${intPort.slice(0, 11)}`), ifindex(ns, `qg-${gwPort.slice(0, 11)}`), ifindex(HOST, `tap${intPort.slice(0, 11)}`)];
    assert.deepEqual(after1, before1);
  });

  it('a floating IP makes the guest reachable from outside, and its traffic leaves as the floating address', async () => {
    await l3.sync({ routers: [router({ floating_ips: [fip] })], floating_ips: [fip] });
    assert.ok(pings(EXT, '172.30.4.20'), 'external machine reaches the guest by its floating address');
    assert.ok(pings(GUEST, '172.30.4.100'));
    assert.match(sh(EXT, 'nft', 'list', 'table', 'ip', 't'), /counter packets [1-9]/);
  });

  it('removing the floating IP stops it; SNAT stays', async () => {
    await l3.sync({ routers: [router()], floating_ips: [] });
    assert.ok(!pings(EXT, '172.30.4.20'), 'the floating address no longer answers');
    assert.ok(pings(GUEST, '172.30.4.100'), 'SNAT still works');
    assert.doesNotMatch(sh(ns, 'ip', 'addr', 'show'), /172\.30\.4\.20/);
  });

  it('enable_snat false: no SNAT; extraroute routes are set and removed', async () => {
    await l3.sync({ routers: [router({ enable_snat: false, routes: [{ destination: '192.168.77.0/24', nexthop: '10.50.0.5' }] })], floating_ips: [] });
    assert.ok(!pings(GUEST, '172.30.4.100'), 'without SNAT the external machine cannot answer');
    assert.match(sh(ns, 'ip', 'route', 'show'), /192\.168\.77\.0\/24 via 10\.50\.0\.5/);
    await l3.sync({ routers: [router()], floating_ips: [] });
    assert.doesNotMatch(sh(ns, 'ip', 'route', 'show'), /192\.168\.77/);
    assert.ok(pings(GUEST, '172.30.4.100'));
  });

  it('removing the gateway removes qg- and the NAT; removing the router removes its namespace and host ends', async () => {
    await l3.sync({ routers: [router({ gateway: null })], floating_ips: [] });
    assert.doesNotMatch(sh(ns, 'ip', 'link', 'show'), /qg-/);
    assert.ok(!pings(GUEST, '172.30.4.100'));
    await l3.sync({ routers: [], floating_ips: [] });
    assert.ok(!existsSync(`/run/netns/${ns}`));
    assert.doesNotMatch(sh(HOST, 'ip', 'link', 'show'), new RegExp(`tap${intPort.slice(0, 11)}`));
  });

  it('refuses values that are not addresses before they reach nft', async () => {
    const bad = { ...fip, fixed_ip_address: '10.0.0.1; flush ruleset' };
    await assert.rejects(l3.sync({ routers: [router({ floating_ips: [{ ...bad, floating_ip_address: '1.2.3.4' }], gateway: { ...router().gateway!, interface: 'qg-x"; drop' } })], floating_ips: [] }));
    await l3.sync({ routers: [], floating_ips: [] });
  });
});
