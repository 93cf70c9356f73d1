// Remote consoles on the all-in-one with the fake driver: the API's URLs, the hashed tokens, the
// noVNC page and both websocket proxies bridging to the fake guest's RFB and serial endpoints.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';
import { ConsoleClient, novncSocketUrl, upgradeStatus } from './support.js';

const MV = (v: string) => ({ 'openstack-api-version': `compute ${v}` });

describe('remote consoles (fake driver)', () => {
  let cloud: TestCloud;
  let admin: Session;
  let member: Session;
  let serverId: string;
  const c = (path: string) => `${cloud.urls.compute}/v2.1${path}`;

  async function bootServer(who: Session, name: string): Promise<string> {
    const images = await api(who, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const r = await api(who, 'POST', c('/servers'), { server: { name, imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' } }, MV('2.37'));
    assert.equal(r.status, 202, JSON.stringify(r.body));
    const id = r.body.server.id as string;
    await waitFor(`${name} ACTIVE`, async () => ((await api(who, 'GET', c(`/servers/${id}`))).body.server.status === 'ACTIVE' ? true : undefined));
    return id;
  }

  const remoteConsole = (who: Session, id: string, protocol: string, type: string, mv = '2.6') =>
    api(who, 'POST', c(`/servers/${id}/remote-consoles`), { remote_console: { protocol, type } }, MV(mv));

  before(async () => {
    cloud = await startTestCloud();
    admin = await login(cloud, 'admin', 'secret', 'admin');
    member = await memberOfNewProject(cloud, admin, 'consoles', 'console-user');
    serverId = await bootServer(member, 'console-vm');
  });
  after(async () => cloud?.close());

  it('hands out a noVNC URL whose page loads and whose websocket speaks RFB to the guest', async () => {
    const r = await remoteConsole(member, serverId, 'vnc', 'novnc');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    assert.deepEqual(Object.keys(r.body.remote_console).sort(), ['protocol', 'type', 'url']);
    assert.equal(r.body.remote_console.protocol, 'vnc');
    const url = new URL(r.body.remote_console.url);
    assert.equal(url.pathname, '/vnc_lite.html');
    assert.match(url.searchParams.get('path') ?? '', /^\?token=[0-9a-f-]{36}$/);
    const page = await fetch(url);
    assert.equal(page.status, 200);
    assert.equal(page.headers.get('referrer-policy'), 'no-referrer');
    assert.match(await page.text(), /import RFB from '\.\/core\/rfb\.js'/);
    const lib = await fetch(new URL('/core/rfb.js', url));
    assert.equal(lib.status, 200);
    assert.match(lib.headers.get('content-type') ?? '', /javascript/);
    assert.equal((await fetch(new URL('/core/../package.json', url))).status, 404);
    assert.equal((await fetch(new URL('/vendor/pako/../../package.json', url))).status, 404);

    const vnc = new ConsoleClient(novncSocketUrl(url.href), { origin: `http://${url.hostname}:8000` });
    await vnc.until(/^RFB 003\.008\n/);
    // The RFB handshake through the proxy: version, security None, ClientInit; ServerInit names the guest.
    vnc.send('RFB 003.008\n');
    await vnc.until(/^RFB 003\.008\n\x01\x01/);
    vnc.send(Buffer.from([1]));
    await waitFor('SecurityResult', async () => (vnc.bytes.length >= 18 ? true : undefined), 5000);
    assert.equal(vnc.bytes.readUInt32BE(14), 0, 'SecurityResult OK');
    vnc.send(Buffer.from([1]));
    await vnc.until(/console-vm/);
    const init = vnc.bytes.subarray(18);
    assert.deepEqual([init.readUInt16BE(0), init.readUInt16BE(2)], [640, 400]);
    vnc.close();
  });

  it('hands out a serial URL whose websocket reaches the guest login prompt, and types into it', async () => {
    const r = await remoteConsole(member, serverId, 'serial', 'serial');
    assert.equal(r.status, 200, JSON.stringify(r.body));
    const url = new URL(r.body.remote_console.url);
    assert.equal(url.protocol, 'ws:');
    const serial = new ConsoleClient(url.href);
    await serial.until(/console-vm login: $/);
    serial.send('root\r');
    await serial.until(/Password: $/);
    serial.send('wrong\r');
    await serial.until(/Login incorrect\r\n\r\nconsole-vm login: $/);
    assert.ok(!serial.text.includes('wrong'), 'the password is not echoed');
    serial.close();
  });

  it('refuses a websocket without a valid token of its kind, from another site, or after the token expired', async () => {
    const vnc = new URL((await remoteConsole(member, serverId, 'vnc', 'novnc')).body.remote_console.url);
    const serial = new URL((await remoteConsole(member, serverId, 'serial', 'serial')).body.remote_console.url);
    const novncToken = new URLSearchParams(vnc.searchParams.get('path')!.slice(1)).get('token')!;
    const serialToken = serial.searchParams.get('token')!;
    assert.equal(await upgradeStatus(`ws://${vnc.host}/?token=${serialToken}`), 401, 'a serial token on the noVNC proxy');
    assert.equal(await upgradeStatus(`ws://${serial.host}/?token=${novncToken}`), 401, 'a noVNC token on the serial proxy');
    assert.equal(await upgradeStatus(`ws://${serial.host}/?token=00000000-0000-4000-8000-000000000000`), 401, 'an unknown token');
    assert.equal(await upgradeStatus(`ws://${serial.host}/?token=${serialToken.toUpperCase()}%00`), 401, 'a malformed token');
    assert.equal(await upgradeStatus(`ws://${serial.host}/`), 401, 'no token');
    assert.equal(await upgradeStatus(serial.href, { origin: 'http://evil.example' }), 401, 'another site');
    assert.equal(await upgradeStatus(serial.href), 101, 'the token is good for more than one connection while it lasts');
    await cloud.db.updateTable('console_auth_tokens').set({ expires_at: new Date(Date.now() - 1000).toISOString() }).execute();
    assert.equal(await upgradeStatus(serial.href), 401, 'an expired token');
  });

  it('stores only the hash of a token, and shows where it leads to an admin from 2.31', async () => {
    const url = new URL((await remoteConsole(member, serverId, 'serial', 'serial')).body.remote_console.url);
    const token = url.searchParams.get('token')!;
    const rows = await cloud.db.selectFrom('console_auth_tokens').selectAll().execute();
    assert.ok(rows.length > 0);
    assert.ok(!JSON.stringify(rows).includes(token), 'no row holds a token');
    const shown = await api(admin, 'GET', c(`/os-console-auth-tokens/${token}`), undefined, MV('2.31'));
    assert.equal(shown.status, 200, JSON.stringify(shown.body));
    assert.equal(shown.body.console.instance_uuid, serverId);
    assert.equal(shown.body.console.host, '127.0.0.1');
    assert.ok(Number.isInteger(shown.body.console.port));
    assert.equal(shown.body.console.internal_access_path, null);
    assert.ok(!JSON.stringify(shown.body).includes(token));
    assert.equal((await api(admin, 'GET', c(`/os-console-auth-tokens/${token}`), undefined, MV('2.30'))).status, 401, 'before 2.31: RDP tokens only');
    assert.equal((await api(member, 'GET', c(`/os-console-auth-tokens/${token}`), undefined, MV('2.31'))).status, 403, 'admin only');
    const unknown = await api(admin, 'GET', c('/os-console-auth-tokens/00000000-0000-4000-8000-000000000000'), undefined, MV('2.31'));
    assert.equal(unknown.status, 404);
    assert.equal((await api(admin, 'GET', c('/os-console-auth-tokens/x%00y'), undefined, MV('2.31'))).status, 400, 'NUL is refused at validation');
    assert.equal((await api(admin, 'GET', c('/os-console-auth-tokens/not-a-token'), undefined, MV('2.31'))).status, 404);
  });

  it('answers the legacy actions below 2.6 and 404 from it', async () => {
    const vnc = await api(member, 'POST', c(`/servers/${serverId}/action`), { 'os-getVNCConsole': { type: 'novnc' } }, MV('2.1'));
    assert.equal(vnc.status, 200, JSON.stringify(vnc.body));
    assert.equal(vnc.body.console.type, 'novnc');
    assert.match(vnc.body.console.url, /\/vnc_lite\.html\?path=%3Ftoken%3D[0-9a-f-]{36}$/);
    const serial = await api(member, 'POST', c(`/servers/${serverId}/action`), { 'os-getSerialConsole': { type: 'serial' } }, MV('2.5'));
    assert.equal(serial.status, 200, JSON.stringify(serial.body));
    assert.match(serial.body.console.url, /^ws:\/\/.*\/\?token=[0-9a-f-]{36}$/);
    assert.equal((await api(member, 'POST', c(`/servers/${serverId}/action`), { 'os-getVNCConsole': { type: 'novnc' } }, MV('2.6'))).status, 404);
    assert.equal((await api(member, 'POST', c(`/servers/${serverId}/action`), { 'os-getVNCConsole': { type: 'spice-html5' } }, MV('2.1'))).status, 400);
  });

  it('answers Nova\'s errors: bad bodies 400, unserved types 400, another project\'s server 404, below 2.6 404', async () => {
    const bad = await remoteConsole(member, serverId, 'vnc', 'serial');
    assert.equal(bad.status, 400);
    assert.equal(bad.body.badRequest.message, 'Invalid console type serial');
    const spice = await remoteConsole(member, serverId, 'spice', 'spice-html5');
    assert.equal(spice.status, 400);
    assert.equal(spice.body.badRequest.message, 'Unavailable console type spice-html5.');
    assert.equal((await remoteConsole(member, serverId, 'vnc', 'xvpvnc')).status, 400);
    assert.equal((await remoteConsole(member, serverId, 'telnet', 'serial')).status, 400);
    assert.equal((await api(member, 'POST', c(`/servers/${serverId}/remote-consoles`), { remote_console: { protocol: 'vnc', type: 'novnc', x: 1 } }, MV('2.6'))).status, 400);
    assert.equal((await api(member, 'POST', c(`/servers/${serverId}/remote-consoles`), { remote_console: { protocol: 'vnc\u0000', type: 'novnc' } }, MV('2.6'))).status, 400);
    assert.equal((await remoteConsole(member, serverId, 'vnc', 'novnc', '2.5')).status, 404);
    const stranger = await memberOfNewProject(cloud, admin, 'elsewhere', 'stranger');
    const foreign = await remoteConsole(stranger, serverId, 'vnc', 'novnc');
    assert.equal(foreign.status, 404);
    assert.equal((await remoteConsole(member, '00000000-0000-4000-8000-000000000000', 'vnc', 'novnc')).status, 404);
  });

  it('has no console for a stopped server (409), and a deleted server\'s tokens open nothing', async () => {
    const id = await bootServer(member, 'short-lived');
    const serialUrl = (await remoteConsole(member, id, 'serial', 'serial')).body.remote_console.url as string;
    const live = new ConsoleClient(serialUrl);
    await live.until(/login: $/);
    assert.equal((await api(member, 'POST', c(`/servers/${id}/action`), { 'os-stop': null })).status, 202);
    await waitFor('SHUTOFF', async () => ((await api(member, 'GET', c(`/servers/${id}`))).body.server.status === 'SHUTOFF' ? true : undefined));
    await live.closed();
    const stopped = await remoteConsole(member, id, 'serial', 'serial');
    assert.equal(stopped.status, 409, JSON.stringify(stopped.body));
    assert.equal(await upgradeStatus(serialUrl), 401, 'a stopped guest has no console to bridge to');
    assert.equal((await api(member, 'DELETE', c(`/servers/${id}`))).status, 204);
    await waitFor('deleted', async () => ((await api(member, 'GET', c(`/servers/${id}`))).status === 404 ? true : undefined));
    assert.equal(await upgradeStatus(serialUrl), 401);
  });
});

describe('remote consoles with the noVNC proxy disabled', () => {
  let cloud: TestCloud;
  after(async () => cloud?.close());

  it('answers 400 for VNC ([vnc] enabled = false) and still serves serial consoles', async () => {
    cloud = await startTestCloud({ vnc: { enabled: 'false' } });
    const admin = await login(cloud, 'admin', 'secret', 'admin');
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`);
    const r = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, {
      server: { name: 'no-vnc', imageRef: images.body.images[0].id, flavorRef: '1', networks: 'none' },
    }, MV('2.37'));
    const id = r.body.server.id as string;
    await waitFor('ACTIVE', async () => ((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).body.server.status === 'ACTIVE' ? true : undefined));
    const vnc = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/remote-consoles`, { remote_console: { protocol: 'vnc', type: 'novnc' } }, MV('2.6'));
    assert.equal(vnc.status, 400);
    assert.equal(vnc.body.badRequest.message, 'Unavailable console type novnc.');
    const serial = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers/${id}/remote-consoles`, { remote_console: { protocol: 'serial', type: 'serial' } }, MV('2.6'));
    assert.equal(serial.status, 200);
    assert.equal(await cloud.db.selectFrom('console_auth_tokens').select('console_type').execute().then((rows) => rows.map((x) => x.console_type).join()), 'serial');
  });
});
