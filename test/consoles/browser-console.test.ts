// The dashboard's Console tab in Debian's Chromium (fake driver): noVNC in the page connects
// through the console proxy to the guest's screen, and the serial console shows the guest's
// login prompt and answers what is typed. Screenshots go to test-output/dashboard/.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Page } from 'playwright-core';
import { backendSkip } from '../support/backends.js';
import { chromiumAvailable, ensureDashboardBuilt, launchBrowser, type Browser } from '../support/browser.js';
import { api, login, memberOfNewProject, startTestCloud, waitFor, type TestCloud } from '../support/cloud.js';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const shots = join(root, 'test-output', 'dashboard');
const skip = backendSkip('chromium', chromiumAvailable());

describe('the dashboard console tab in a browser', { skip }, () => {
  let cloud: TestCloud;
  let browser: Browser;
  let page: Page;
  let serverId: string;
  const problems: string[] = [];

  before(async () => {
    await ensureDashboardBuilt();
    mkdirSync(shots, { recursive: true });
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
    const admin = await login(cloud, 'admin', cloud.config.str('identity', 'admin_password'), 'admin');
    const bob = await memberOfNewProject(cloud, admin, 'console-demo', 'bob', 'bob-pw');
    const image = (await api(bob, 'GET', `${cloud.urls.image}/v2/images?name=orrery-tiny`)).body.images[0].id;
    const created = await api(bob, 'POST', `${cloud.urls.compute}/v2.1/servers`, { server: { name: 'term-1', imageRef: image, flavorRef: '1', networks: 'none' } },
      { 'openstack-api-version': 'compute 2.37' });
    serverId = created.body.server.id;
    await waitFor('ACTIVE', async () => ((await api(bob, 'GET', `${cloud.urls.compute}/v2.1/servers/${serverId}`)).body.server.status === 'ACTIVE' ? true : undefined));
    browser = await launchBrowser();
    page = await browser.context.newPage();
    page.on('pageerror', (err) => problems.push(`page error: ${err.message}`));
    page.on('console', (m) => { if (m.type() === 'error' && /Refused to|Content.Security.Policy/i.test(m.text())) problems.push(m.text()); });
    await page.goto(`${cloud.dashboardUrl}/`);
    await page.fill('input[name=user]', 'bob');
    await page.fill('input[name=password]', 'bob-pw');
    await page.fill('input[name=project]', 'console-demo');
    await page.click('button[type=submit]');
    await page.locator('header .user', { hasText: 'bob' }).waitFor();
  });

  after(async () => {
    await browser?.close();
    await cloud?.close();
  });

  it('shows the guest\'s screen through noVNC in the page', async () => {
    await page.goto(`${cloud.dashboardUrl}/#/servers/${serverId}/console`);
    await page.locator('[data-testid=console-tab]').waitFor();
    const frame = page.frameLocator('[data-testid=vnc-frame]');
    await frame.locator('body[data-state=connected]').waitFor({ timeout: 20_000 });
    assert.match(await frame.locator('#status').innerText(), /Connected .* term-1/);
    // noVNC drew the guest's framebuffer on its canvas: the fake guest's screen text (light on dark) is there.
    await frame.locator('#screen canvas').waitFor();
    const vncPage = page.frames().find((f) => f.url().includes('/vnc_lite.html'));
    assert.ok(vncPage, 'the noVNC page is a frame of the dashboard');
    // Evaluated in the page (a string: this project's types have no DOM): bright pixels in the text rows.
    const litPixels = `(() => {
      const data = document.querySelector('#screen canvas')?.getContext('2d')?.getImageData(0, 0, 640, 80).data ?? [];
      let lit = 0;
      for (let i = 0; i < data.length; i += 4) if (data[i] > 150) lit++;
      return lit;
    })()`;
    await waitFor('the guest\'s screen on the canvas', async () => ((await vncPage.evaluate<number>(litPixels)) > 100 ? true : undefined), 20_000);
    await page.screenshot({ path: join(shots, 'console-vnc.png'), fullPage: true });
  });

  it('shows the serial console\'s login prompt and types into it', async () => {
    await page.check('input[name=console-kind][value=serial]');
    const screen = page.locator('[data-testid=serial-screen]');
    await page.locator('[data-testid=serial-state][data-state=connected]').waitFor();
    await waitFor('the login prompt', async () => (/term-1 login: $/.test(await screen.innerText()) ? true : undefined), 15_000);
    await screen.click();
    await page.keyboard.type('root');
    await page.keyboard.press('Enter');
    await waitFor('the password prompt', async () => (/Password: $/.test(await screen.innerText()) ? true : undefined), 15_000);
    await page.keyboard.type('not-this-one');
    await page.keyboard.press('Enter');
    await waitFor('the refusal', async () => (/Login incorrect\s+term-1 login: $/.test(await screen.innerText()) ? true : undefined), 15_000);
    assert.ok(!(await screen.innerText()).includes('not-this-one'), 'the password is not echoed');
    await page.screenshot({ path: join(shots, 'console-serial.png'), fullPage: true });
    assert.deepEqual(problems, []);
  });
});
