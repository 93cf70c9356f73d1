import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { backendSkip } from '../support/backends.js';
import { chromiumAvailable, ensureDashboardBuilt, launchBrowser, type Browser } from '../support/browser.js';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type Session, type TestCloud } from '../support/cloud.js';

/**
 * Issue #14's dashboard done-when, in Debian's Chromium: a member logs in, boots a server from
 * the dashboard, sees it turn ACTIVE without the page reloading, opens its console log, stops it
 * and deletes it; an admin sees both compute hosts with capacity bars. Screenshots of the main
 * pages go to test-output/dashboard/.
 */
const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shots = join(root, 'test-output', 'dashboard');
const skip = backendSkip('chromium', chromiumAvailable());

describe('the dashboard in a browser', { skip }, () => {
  let cloud: TestCloud;
  let admin: Session;
  let browser: Browser;
  let page: Page;
  let loads = 0;
  const problems: string[] = [];
  const shot = (name: string): Promise<Buffer> => page.screenshot({ path: join(shots, `${name}.png`), fullPage: true });

  async function signIn(user: string, password: string, project: string): Promise<void> {
    await page.fill('input[name=user]', user);
    await page.fill('input[name=password]', password);
    await page.fill('input[name=project]', project);
    await page.click('button[type=submit]');
    await page.locator('header .user', { hasText: user }).waitFor();
  }

  async function firstImage(who: Session): Promise<string> {
    return (await api(who, 'GET', `${cloud.urls.image}/v2/images`)).body.images[0].id;
  }

  before(async () => {
    await ensureDashboardBuilt();
    mkdirSync(shots, { recursive: true });
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1,compute2' } });
    admin = await login(cloud, 'admin', cloud.config.str('identity', 'admin_password'), 'admin');
    await memberOfNewProject(cloud, admin, 'demo', 'alice', 'alice-pw');
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('dialog', (d) => void d.accept());
    page.on('load', () => { loads++; });
    // Script errors, and anything the page's content security policy refused, fail the test (in after()).
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && /Refused to|Content.Security.Policy/i.test(m.text())) problems.push(m.text()); });
    await page.goto(`${cloud.dashboardUrl}/`);
  });

  after(async () => {
    await browser?.close();
    await cloud?.close();
  });

  it('logs in, boots a server, sees it turn ACTIVE without reloading, reads its console log, stops and deletes it', async () => {
    await page.locator('form.login').waitFor();
    await shot('login');
    await signIn('alice', 'alice-pw', 'demo');
    const loadsAfterLogin = loads;
    await page.locator('text=No servers yet.').waitFor();

    await page.click('text=Create server');
    const form = page.locator('[data-testid=create-server]');
    await form.waitFor();
    await form.locator('input[name=name]').fill('web-1');
    await shot('server-create');
    await form.locator('button[type=submit]').click();

    // The list is polled with changes-since: the row appears and turns ACTIVE with no reload.
    const row = page.locator('[data-testid=servers] tr', { hasText: 'web-1' });
    await row.locator('[data-status=ACTIVE]').waitFor({ timeout: 60_000 });
    assert.equal(loads, loadsAfterLogin, 'the page did not reload');
    await shot('servers');

    await row.locator('a', { hasText: 'web-1' }).click();
    await page.locator('h1', { hasText: 'Server web-1' }).waitFor();
    await shot('server-detail');
    await page.click('[role=tab] >> text=Console log');
    const log = page.locator('[data-testid=console-log]');
    await log.locator('text=web-1 login:').waitFor();
    assert.match(await log.innerText(), /Linux version/);
    await shot('server-console-log');
    await page.click('[role=tab] >> text=Actions and events');
    await page.locator('[data-testid=instance-actions] td', { hasText: 'create' }).first().waitFor();

    await page.click('.page-head [data-action=stop]');
    await page.locator('.page-head [data-status=SHUTOFF]').waitFor({ timeout: 60_000 });
    const id = new URL(page.url()).hash.split('/')[2]!;

    await page.click('.page-head [data-action=delete]');
    // Deleted: back on the list, where the feed drops the row when changes-since reports it DELETED.
    await page.locator('text=No servers yet.').waitFor({ timeout: 60_000 });
    assert.equal(loads, loadsAfterLogin, 'the page did not reload');
    const alice = await login(cloud, 'alice', 'alice-pw', 'demo');
    await waitFor('the server gone from the API', async () => ((await api(alice, 'GET', `${cloud.urls.compute}/v2.1/servers/${id}`)).status === 404 ? true : undefined));
  });

  it("switches to another of the user's projects", async () => {
    const c = cloud.urls;
    const p = await api(admin, 'POST', `${c.identity}/v3/projects`, { project: { name: 'demo2', domain_id: 'default' } });
    const users = await api(admin, 'GET', `${c.identity}/v3/users?name=alice`);
    const role = await api(admin, 'GET', `${c.identity}/v3/roles?name=member`);
    assert.equal((await api(admin, 'PUT', `${c.identity}/v3/projects/${p.body.project.id}/users/${users.body.users[0].id}/roles/${role.body.roles[0].id}`)).status, 204);
    // The switcher lists the projects of the sign-in: sign in again to see the new one.
    await page.click('header button');
    await signIn('alice', 'alice-pw', 'demo');
    await page.selectOption('select[aria-label=Project]', { label: 'demo2' });
    await waitFor('a demo2 token', async () => (await page.evaluate(() => sessionStorage.getItem('orrery.session') ?? '')).includes('"name":"demo2"') || undefined);
    await page.click('nav >> text=Servers');
    await page.locator('text=No servers yet.').waitFor();
  });

  it('shows an admin both compute hosts with capacity bars, the compute services, zones and the usage chart', async () => {
    await page.click('header button', { timeout: 5000 });
    await page.locator('form.login').waitFor();
    await signIn('admin', cloud.config.str('identity', 'admin_password'), 'admin');

    // One server running, so one host's bars show use.
    const boot = await api(admin, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name: 'busy', imageRef: await firstImage(admin), flavorRef: '1', networks: 'none' } }, { 'openstack-api-version': 'compute 2.37' });
    assert.equal(boot.status, 202, JSON.stringify(boot.body));
    await waitFor('busy ACTIVE', async () => ((await api(admin, 'GET', `${cloud.urls.compute}/v2.1/servers/${boot.body.server.id}`)).body.server.status === 'ACTIVE' || undefined));

    await page.click('nav >> text=Hypervisors');
    const cards = page.locator('[data-hypervisor]');
    await cards.nth(1).waitFor();
    const used = await page.locator('[role=meter][aria-label=vCPUs]').evaluateAll((els) => els.map((e) => Number(e.getAttribute('aria-valuenow'))));
    assert.deepEqual(used.sort(), [0, 1], 'the busy host shows its vCPU in use');
    const names = (await cards.evaluateAll((els) => els.map((e) => e.getAttribute('data-hypervisor')))).sort();
    assert.equal(names.length, 2);
    assert.ok(names[0]!.includes('compute1') && names[1]!.includes('compute2'), `hypervisors: ${names.join(', ')}`);
    for (let i = 0; i < 2; i++) {
      const meters = cards.nth(i).locator('[role=meter]');
      assert.equal(await meters.count(), 3);
      for (let m = 0; m < 3; m++) assert.ok(Number(await meters.nth(m).getAttribute('aria-valuemax')) > 0, 'each bar has a capacity');
    }
    await shot('admin-hypervisors');

    await page.click('nav >> text=Compute services');
    for (const host of ['compute1', 'compute2']) {
      await page.locator('[data-testid=services] tr', { hasText: host }).filter({ hasText: 'nova-compute' }).locator('text=up').waitFor();
    }
    await shot('admin-services');
    await page.click('nav >> text=Aggregates and zones');
    await page.locator('[data-testid=zones] td', { hasText: 'compute1' }).waitFor();
    await shot('admin-aggregates');
    await page.click('nav >> text=Usage');
    await page.locator('[data-testid=usage-chart] canvas').waitFor();
    await page.locator('[data-testid=usage] td', { hasText: 'demo' }).waitFor();
    await shot('admin-usage');
    await page.click('nav >> text=Images');
    const upload = page.locator('[data-testid=upload-image]');
    await upload.locator('input[name=name]').fill('uploaded');
    await upload.locator('input[name=file]').setInputFiles({ name: 'disk.raw', mimeType: 'application/octet-stream', buffer: Buffer.alloc(256 * 1024, 7) });
    await upload.locator('select[name=disk_format]').selectOption('raw');
    await upload.locator('button[type=submit]').click();
    await page.locator('[data-testid=images] tr', { hasText: 'uploaded' }).locator('td', { hasText: 'active' }).waitFor();
    const images = await api(admin, 'GET', `${cloud.urls.image}/v2/images?name=uploaded`);
    assert.equal(images.body.images[0].size, 256 * 1024, 'the whole file arrived through the dashboard');
    for (const [nav, name] of [['Images', 'images'], ['Flavors', 'flavors'], ['Key pairs', 'keypairs'], ['Networks', 'networks']] as const) {
      await page.click(`nav >> text=${nav}`);
      await page.locator('h1', { hasText: nav }).waitFor();
      await page.locator('table, p.muted:not(:has-text("Loading"))').first().waitFor();
      await shot(name);
    }
  });

  it('ran every page above without a script error or a resource its security policy refused', () => {
    assert.deepEqual(problems, []);
  });
});
