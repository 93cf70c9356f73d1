import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { promisify } from 'node:util';
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { IdentityClient } from '../../src/clients/identity-client.js';
import { NetworkClient } from '../../src/clients/network-client.js';
import { createLogger } from '../../src/common/logging.js';
import { MetadataForwarder } from '../../src/netagent/metadata-forwarder.js';
import { metadataProxyCommand, metadataProxyScript } from '../../src/netagent/metadata-proxy-command.js';
import { backendSkip, commandExists } from '../support/backends.js';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * The metadata path end to end, Neutron's way, in namespaces this test makes: a "DHCP"
 * namespace holding 169.254.169.254 with the proxy (started by metadataProxyCommand, from built
 * JavaScript) listening there, a veth "guest" namespace holding a port's address, the forwarder
 * on a unix socket in this process, and the all-in-one's Network and metadata APIs. The guest
 * runs busybox wget and reads its own instance's user data; another address reads another's.
 */

const isRoot = process.getuid?.() === 0;
function netnsWorks(): boolean {
  if (!isRoot || !commandExists('ip') || !commandExists('nsenter') || !commandExists('busybox')) return false;
  const probe = `mdprobe-${randomBytes(3).toString('hex')}`;
  try {
    execFileSync('ip', ['netns', 'add', probe], { stdio: 'ignore' });
    execFileSync('ip', ['netns', 'del', probe], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
const skip = backendSkip('network namespaces (root, ip, nsenter, busybox)', netnsWorks());

const SECRET = 'proxy-test-secret';
const MINE = '#cloud-config\nmine: true\n';
const THEIRS = '#cloud-config\ntheirs: true\n';

const sh = (args: string[]): string => execFileSync(args[0]!, args.slice(1), { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] });

describe('the metadata proxy in a namespace', { skip }, () => {
  const suffix = randomBytes(3).toString('hex');
  const dhcpNs = `mdq-${suffix}`;
  const guestNs = `mdg-${suffix}`;
  const vethDhcp = `mdv${suffix}a`;
  const vethGuest = `mdv${suffix}b`;
  let cloud: TestCloud;
  let admin: Session;
  let other: Session;
  let forwarder: MetadataForwarder;
  let proxy: ChildProcess | undefined;
  let networkId = '';

  /** busybox wget in the guest namespace (asynchronously: the forwarder answers from this process; no -T, which makes busybox 1.35's wget crash). */
  const guestGet = async (path: string, headers: string[] = []): Promise<{ status: number; out: string }> => {
    try {
      const { stdout } = await promisify(execFile)('ip', ['netns', 'exec', guestNs, 'busybox', 'wget', '-qO-', ...headers.flatMap((h) => ['--header', h]), `http://169.254.169.254${path}`], { encoding: 'utf8', timeout: 15_000 });
      return { status: 0, out: stdout };
    } catch (err) {
      const e = err as { code?: number; stdout?: string; stderr?: string };
      return { status: typeof e.code === 'number' ? e.code : -1, out: `${e.stdout ?? ''}${e.stderr ?? ''}${typeof e.code === 'number' ? '' : `${String(err)} signal=${String((err as { signal?: unknown }).signal)} code=${String(e.code)}`}` };
    }
  };
  /** Which of the guest's addresses its requests to 169.254.169.254 come from. */
  const sourceAddress = (addr: string): void => {
    sh(['ip', '-n', guestNs, 'route', 'replace', '169.254.169.254/32', 'via', '10.77.0.2', 'src', addr]);
  };

  async function serverWithPort(session: Session, name: string, userData: string, address: string, subnetId: string): Promise<string> {
    const c = cloud.urls;
    const image = await api(session, 'GET', `${c.image}/v2/images?name=orrery-tiny`);
    const r = await api(session, 'POST', `${c.compute}/v2.1/servers`, {
      server: { name, imageRef: image.body.images[0].id, flavorRef: '1', networks: 'none', user_data: Buffer.from(userData).toString('base64') },
    }, { 'openstack-api-version': 'compute 2.37' });
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitFor('ACTIVE', async () => ((await api(session, 'GET', `${c.compute}/v2.1/servers/${id}`)).body.server.status === 'ACTIVE' ? true : undefined));
    // The port as the compute service makes it at boot: the instance's device id and project, a compute owner.
    const port = await api(admin, 'POST', `${c.network}/v2.0/ports`, {
      port: { network_id: networkId, project_id: session.projectId, device_id: id, device_owner: 'compute:nova', fixed_ips: [{ subnet_id: subnetId, ip_address: address }] },
    });
    assert.equal(port.status, 201, JSON.stringify(port.body));
    return id;
  }

  before(async () => {
    assert.ok(existsSync(metadataProxyScript()), `${metadataProxyScript()} is missing: run npx tsc -b first`);
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' }, neutron: { metadata_proxy_shared_secret: SECRET } });
    admin = await login(cloud, 'admin', 'secret', 'admin');
    other = await memberOfNewProject(cloud, admin, 'mdp-other', 'mdp-other-u');
    const c = cloud.urls;
    const net = await api(admin, 'POST', `${c.network}/v2.0/networks`, { network: { name: 'md-net', shared: true } });
    assert.equal(net.status, 201, JSON.stringify(net.body));
    networkId = net.body.network.id;
    const subnet = await api(admin, 'POST', `${c.network}/v2.0/subnets`, { subnet: { network_id: networkId, ip_version: 4, cidr: '10.77.0.0/24' } });
    assert.equal(subnet.status, 201, JSON.stringify(subnet.body));
    await serverWithPort(admin, 'md-mine', MINE, '10.77.0.5', subnet.body.subnet.id);
    await serverWithPort(other, 'md-theirs', THEIRS, '10.77.0.6', subnet.body.subnet.id);

    // The namespaces: the DHCP side holds the metadata address, the guest routes it there.
    sh(['ip', 'netns', 'add', dhcpNs]);
    sh(['ip', 'netns', 'add', guestNs]);
    sh(['ip', 'link', 'add', vethDhcp, 'netns', dhcpNs, 'type', 'veth', 'peer', 'name', vethGuest, 'netns', guestNs]);
    for (const [ns, dev, addr] of [[dhcpNs, vethDhcp, '10.77.0.2/24'], [guestNs, vethGuest, '10.77.0.5/24']] as const) {
      sh(['ip', '-n', ns, 'link', 'set', 'lo', 'up']);
      sh(['ip', '-n', ns, 'addr', 'add', addr, 'dev', dev]);
      sh(['ip', '-n', ns, 'link', 'set', dev, 'up']);
    }
    sh(['ip', '-n', dhcpNs, 'addr', 'add', '169.254.169.254/32', 'dev', vethDhcp]);
    sh(['ip', '-n', guestNs, 'addr', 'add', '10.77.0.6/24', 'dev', vethGuest]);
    sh(['ip', '-n', guestNs, 'addr', 'add', '10.77.0.9/24', 'dev', vethGuest]);
    sourceAddress('10.77.0.5');

    const socketPath = join(cloud.stateDir, 'metadata_proxy');
    const identity = IdentityClient.fromConfig(cloud.config, `${c.identity}/v3`);
    forwarder = new MetadataForwarder({
      socketPath, network: new NetworkClient(identity), metadataUrl: c.metadata, secret: SECRET,
      log: createLogger('forwarder', process.env.ORRERY_LOG_LEVEL ?? 'warn'),
    });
    await forwarder.start();
    const argv = metadataProxyCommand({ networkId, namespacePath: `/run/netns/${dhcpNs}`, socketPath });
    assert.equal(argv[0], 'nsenter');
    proxy = spawn(argv[0]!, argv.slice(1), { stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    proxy.stdout!.on('data', (d: Buffer) => { output += d.toString(); });
    proxy.stderr!.on('data', (d: Buffer) => { output += d.toString(); });
    await waitFor('the proxy to listen', async () => (output.includes('metadata proxy of network') ? true : proxy!.exitCode !== null ? Promise.reject(new Error(output)) : undefined), 15_000);
  });

  after(async () => {
    if (proxy && proxy.exitCode === null) {
      const exited = new Promise((r) => proxy!.once('exit', r));
      proxy.kill('SIGTERM');
      await exited;
    }
    await forwarder?.stop();
    for (const ns of [guestNs, dhcpNs]) {
      try {
        execFileSync('ip', ['netns', 'del', ns], { stdio: 'ignore' });
      } catch {
        // not made
      }
    }
    await cloud?.close();
  });

  it('a guest reads its own user data through the proxy with busybox wget', async () => {
    sourceAddress('10.77.0.5');
    const r = await guestGet('/openstack/latest/user_data');
    assert.equal(r.status, 0, r.out);
    assert.equal(r.out, MINE);
    const md = JSON.parse((await guestGet('/openstack/latest/meta_data.json')).out) as { name: string };
    assert.equal(md.name, 'md-mine');
    assert.equal((await guestGet('/latest/meta-data/local-ipv4')).out, '10.77.0.5');
  });

  it("the address decides the instance: another port's address reads the other instance, spoofed headers change nothing", async () => {
    sourceAddress('10.77.0.6');
    assert.equal((await guestGet('/openstack/latest/user_data')).out, THEIRS);
    sourceAddress('10.77.0.5');
    const spoofed = await guestGet('/openstack/latest/user_data', ['X-Forwarded-For: 10.77.0.6', 'X-Neutron-Network-ID: 00000000-0000-0000-0000-000000000000', 'X-Instance-ID: x', 'X-Tenant-ID: y']);
    assert.equal(spoofed.status, 0, spoofed.out);
    assert.equal(spoofed.out, MINE);
  });

  it('an address no port holds gets 404', async () => {
    sourceAddress('10.77.0.9');
    const r = await guestGet('/openstack/latest/meta_data.json');
    assert.notEqual(r.status, 0);
    assert.match(r.out, /404/);
    sourceAddress('10.77.0.5');
  });
});
