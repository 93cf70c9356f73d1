import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { MAX_MICROVERSION } from '../../src/api/microversion.js';
import { BUNDLED_DRIVERS } from '../../src/cmd/services.js';
import { MAX_VERSION as BAREMETAL_MAX, MIN_VERSION as BAREMETAL_MIN } from '../../src/baremetal/microversion.js';
import { startTestCloud, type TestCloud } from '../support/cloud.js';
import { apiRoutes, type ApiRoute } from '../support/route-fixtures.js';

/**
 * The README's "What works today" table is generated from the route tables of the running APIs
 * and the bundled drivers; this test fails, printing the table as it should read, when the
 * README's copy drifts from what the code serves.
 */

const START = '<!-- works-today:start -->';
const END = '<!-- works-today:end -->';
const API_NAMES: Array<[string, string]> = [
  ['compute', `Compute v2.1 (microversions 2.1–${MAX_MICROVERSION})`],
  ['identity', 'Identity v3'],
  ['image', 'Image v2'],
  ['placement', 'Placement'],
  ['network', 'Network v2.0'],
  ['baremetal', `Bare Metal v1 (microversions ${BAREMETAL_MIN}–${BAREMETAL_MAX})`],
];

/** A route's URL without its version prefix and parameters: `/v2.1/:project_id/servers/:id/tags` → `servers/tags`. */
function resourcePath(url: string): string {
  return url.split('/').filter((s) => s !== '' && !s.startsWith(':') && !/^v\d+(\.\d+)?$/.test(s)).join('/');
}

function serverActions(routes: ApiRoute[]): string[] {
  const route = routes.find((r) => r.api === 'compute' && r.method === 'POST' && /\/servers\/:server_id\/action$/.test(r.url));
  const names = (route?.bodyVariants ?? []).flatMap((v) => Object.keys((v as { properties?: object }).properties ?? {}));
  return [...new Set(names)].sort();
}

function worksToday(routes: ApiRoute[]): string {
  const rows = ['| Area | What is served |', '|---|---|'];
  for (const [api, title] of API_NAMES) {
    const paths = [...new Set(routes.filter((r) => r.api === api).map((r) => resourcePath(r.url)).filter((p) => p !== ''))].sort();
    rows.push(`| ${title} | ${paths.map((p) => `\`${p}\``).join(', ')} |`);
  }
  rows.push(`| Server actions | ${serverActions(routes).map((a) => `\`${a}\``).join(', ')} |`);
  rows.push(`| Bundled drivers (\`compute_driver\`) | ${Object.keys(BUNDLED_DRIVERS).sort().map((d) => `\`${d}\``).join(', ')} |`);
  return rows.join('\n');
}

describe('the README says what works today', () => {
  let cloud: TestCloud;
  before(async () => {
    cloud = await startTestCloud({ DEFAULT: { compute_hosts: 'compute1' } });
  });
  after(async () => {
    await cloud?.close();
  });

  it('its table matches the route tables and the bundled drivers', () => {
    const readme = readFileSync(new URL('../../README.md', import.meta.url), 'utf8');
    const start = readme.indexOf(START);
    const end = readme.indexOf(END);
    assert.ok(start >= 0 && end > start, `README.md lacks the ${START} … ${END} markers`);
    const current = readme.slice(start + START.length, end).trim();
    const expected = worksToday(apiRoutes(cloud));
    assert.equal(current, expected, `README.md's "What works today" table should read:\n${expected}\n`);
  });
});
