import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import type { Login } from '../identity/harness.js';
import { api } from '../support/http.js';
import { adminOf, net, startNet, userWith, type NetServices } from './harness.js';

describe('network API: networks, list kit, tags, extensions', () => {
  let s: NetServices;
  let admin: Login;
  let alice: Login; // member of alpha
  let reader: Login; // reader of alpha
  let bob: Login; // member of beta
  before(async () => {
    s = await startNet();
    admin = await adminOf(s);
    alice = await userWith(s, admin, 'alpha', 'alice', 'member');
    reader = await userWith(s, admin, 'alpha', 'rita', 'reader');
    bob = await userWith(s, admin, 'beta', 'bob', 'member');
  });
  after(async () => s?.close());

  it('answers the version document without a token and 401 without one on resources', async () => {
    const v = await net(s, null, 'GET', '/');
    assert.equal(v.status, 200);
    assert.equal(v.body.versions[0].id, 'v2.0');
    const r = await net(s, null, 'GET', '/v2.0/networks');
    assert.equal(r.status, 401);
  });

  it('creates a project network with a VNI of its own, mtu 1450, provider attributes for admin only', async () => {
    const a = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'n1' } });
    assert.equal(a.status, 201, JSON.stringify(a.body));
    const n = a.body.network;
    assert.equal(n.mtu, 1450);
    assert.equal(n.project_id, alice.projectId);
    assert.equal(n.tenant_id, alice.projectId);
    assert.equal(n.status, 'ACTIVE');
    assert.equal(n.revision_number, 1);
    assert.match(n.created_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.equal(n['provider:network_type'], undefined);
    const b = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'n2' } });
    const seen = await net(s, admin, 'GET', `/v2.0/networks/${b.body.network.id}`);
    assert.equal(seen.body.network['provider:network_type'], 'vxlan');
    const first = await net(s, admin, 'GET', `/v2.0/networks/${n.id}`);
    assert.notEqual(first.body.network['provider:segmentation_id'], seen.body.network['provider:segmentation_id']);
  });

  it('gives distinct VNIs to concurrent creates', async () => {
    const rs = await Promise.all([...Array(20).keys()].map((i) => net(s, alice, 'POST', '/v2.0/networks', { network: { name: `c${i}` } })));
    for (const r of rs) assert.equal(r.status, 201, JSON.stringify(r.body));
    const all = await net(s, admin, 'GET', '/v2.0/networks?fields=provider:segmentation_id&fields=id');
    const vnis = all.body.networks.map((x: Record<string, unknown>) => x['provider:segmentation_id']);
    assert.equal(new Set(vnis).size, vnis.length);
    assert.deepEqual(Object.keys(all.body.networks[0]).sort(), ['id', 'provider:segmentation_id']);
  });

  it('refuses provider attributes, shared and external to non-admins (Neutron wording)', async () => {
    for (const extra of [{ shared: true }, { 'router:external': true }, { 'provider:network_type': 'flat', 'provider:physical_network': 'x' }]) {
      const r = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'x', ...extra } });
      assert.equal(r.status, 403, JSON.stringify(r.body));
      assert.equal(r.body.NeutronError.type, 'HTTPForbidden');
      assert.match(r.body.NeutronError.message, /^\(rule:create_network:[a-z:_]+\) is disallowed by policy$/);
    }
  });

  it('lets admin make a flat provider network (mtu 1500), once per physical network', async () => {
    const r = await net(s, admin, 'POST', '/v2.0/networks', {
      network: { name: 'public', 'router:external': true, shared: false, 'provider:network_type': 'flat', 'provider:physical_network': 'external' },
    });
    assert.equal(r.status, 201, JSON.stringify(r.body));
    assert.equal(r.body.network.mtu, 1500);
    assert.equal(r.body.network['provider:segmentation_id'], null);
    const again = await net(s, admin, 'POST', '/v2.0/networks', {
      network: { name: 'public2', 'provider:network_type': 'flat', 'provider:physical_network': 'external' },
    });
    assert.equal(again.status, 409);
    assert.equal(again.body.NeutronError.type, 'FlatNetworkInUse');
    // External networks are visible to every project.
    const seen = await net(s, bob, 'GET', `/v2.0/networks/${r.body.network.id}`);
    assert.equal(seen.status, 200);
  });

  it("hides another project's private network as a 404 and keeps a reader from writing", async () => {
    const a = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'private' } });
    const id = a.body.network.id;
    for (const [m, body] of [['GET', undefined], ['PUT', { network: { name: 'y' } }], ['DELETE', undefined]] as const) {
      const r = await net(s, bob, m, `/v2.0/networks/${id}`, body);
      assert.equal(r.status, 404, `${m} ${JSON.stringify(r.body)}`);
      assert.equal(r.body.NeutronError.type, 'NetworkNotFound');
    }
    const list = await net(s, bob, 'GET', '/v2.0/networks');
    assert.ok(!list.body.networks.some((n: { id: string }) => n.id === id));
    assert.equal((await net(s, reader, 'GET', `/v2.0/networks/${id}`)).status, 200);
    assert.equal((await net(s, reader, 'PUT', `/v2.0/networks/${id}`, { network: { name: 'z' } })).status, 403);
    assert.equal((await net(s, reader, 'POST', '/v2.0/networks', { network: { name: 'z' } })).status, 403);
    assert.equal((await net(s, reader, 'DELETE', `/v2.0/networks/${id}`)).status, 403);
    const u = await net(s, alice, 'PUT', `/v2.0/networks/${id}`, { network: { name: 'renamed' } });
    assert.equal(u.status, 200);
    assert.equal(u.body.network.name, 'renamed');
    assert.equal(u.body.network.revision_number, 2);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/networks/${id}`)).status, 204);
    assert.equal((await net(s, alice, 'GET', `/v2.0/networks/${id}`)).status, 404);
  });

  it("a shared network: other projects see it and its subnets, make ports on it, but not with a chosen address, and cannot change it", async () => {
    const n = await net(s, admin, 'POST', '/v2.0/networks', { network: { name: 'shared-net', shared: true, project_id: alice.projectId } });
    assert.equal(n.status, 201, JSON.stringify(n.body));
    const id = n.body.network.id;
    const sub = await net(s, alice, 'POST', '/v2.0/subnets', { subnet: { network_id: id, ip_version: 4, cidr: '10.60.0.0/24' } });
    assert.equal(sub.status, 201);
    assert.equal((await net(s, bob, 'GET', `/v2.0/subnets/${sub.body.subnet.id}`)).status, 200);
    assert.equal((await net(s, bob, 'POST', '/v2.0/subnets', { subnet: { network_id: id, ip_version: 4, cidr: '10.61.0.0/24' } })).status, 403);
    const p = await net(s, bob, 'POST', '/v2.0/ports', { port: { network_id: id } });
    assert.equal(p.status, 201, JSON.stringify(p.body));
    assert.equal(p.body.port.project_id, bob.projectId);
    const chosen = await net(s, bob, 'POST', '/v2.0/ports', { port: { network_id: id, fixed_ips: [{ ip_address: '10.60.0.33' }] } });
    assert.equal(chosen.status, 403);
    assert.equal(chosen.body.NeutronError.message, '(rule:create_port:fixed_ips:ip_address) is disallowed by policy');
    const upd = await net(s, bob, 'PUT', `/v2.0/networks/${id}`, { network: { name: 'mine' } });
    assert.equal(upd.status, 403);
    // Alice cannot see Bob's port; unsharing a network another project uses is refused.
    assert.equal((await net(s, alice, 'GET', `/v2.0/ports/${p.body.port.id}`)).status, 404);
    const unshare = await net(s, admin, 'PUT', `/v2.0/networks/${id}`, { network: { shared: false } });
    assert.equal(unshare.status, 409);
    assert.equal(unshare.body.NeutronError.type, 'InvalidSharedSetting');
  });

  it('filters on any attribute (repeated = OR), sorts, pages with links', async () => {
    for (const name of ['pa', 'pb', 'pc', 'pd', 'pe']) await net(s, bob, 'POST', '/v2.0/networks', { network: { name } });
    const or = await net(s, bob, 'GET', '/v2.0/networks?name=pa&name=pc');
    assert.deepEqual(or.body.networks.map((n: { name: string }) => n.name).sort(), ['pa', 'pc']);
    const byBool = await net(s, bob, 'GET', '/v2.0/networks?shared=False&router:external=False&sort_key=name&sort_dir=desc');
    assert.deepEqual(byBool.body.networks.map((n: { name: string }) => n.name), ['pe', 'pd', 'pc', 'pb', 'pa']);
    assert.equal((await net(s, bob, 'GET', '/v2.0/networks?bogus=1')).status, 400);
    assert.equal((await net(s, bob, 'GET', '/v2.0/networks?sort_key=bogus')).status, 400);
    assert.equal((await net(s, bob, 'GET', '/v2.0/networks?limit=x')).status, 400);
    const names: string[] = [];
    let path = '/v2.0/networks?sort_key=name&sort_dir=asc&limit=2&router:external=False&shared=False';
    for (let i = 0; i < 5 && path; i++) {
      const page = await net(s, bob, 'GET', path);
      assert.equal(page.status, 200, JSON.stringify(page.body));
      names.push(...page.body.networks.map((n: { name: string }) => n.name));
      const next = page.body.networks_links.find((l: { rel: string }) => l.rel === 'next');
      path = next ? next.href.replace(s.netUrl, '') : '';
    }
    assert.deepEqual(names, ['pa', 'pb', 'pc', 'pd', 'pe']);
  });

  it('tags: set, add, check, filter, remove; the revision goes up', async () => {
    const a = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'tagged' } });
    const id = a.body.network.id;
    assert.equal((await net(s, alice, 'PUT', `/v2.0/networks/${id}/tags`, { tags: ['red', 'blue'] })).status, 200);
    assert.equal((await net(s, alice, 'PUT', `/v2.0/networks/${id}/tags/green`)).status, 201);
    assert.equal((await net(s, alice, 'GET', `/v2.0/networks/${id}/tags/green`)).status, 204);
    assert.equal((await net(s, alice, 'GET', `/v2.0/networks/${id}/tags/none`)).status, 404);
    assert.equal((await net(s, bob, 'GET', `/v2.0/networks/${id}/tags`)).status, 404);
    assert.equal((await net(s, reader, 'PUT', `/v2.0/networks/${id}/tags/x`)).status, 403);
    const f = await net(s, alice, 'GET', '/v2.0/networks?tags=red,green');
    assert.deepEqual(f.body.networks.map((n: { id: string }) => n.id), [id]);
    assert.equal((await net(s, alice, 'GET', '/v2.0/networks?tags-any=nothing')).body.networks.length, 0);
    assert.equal((await net(s, alice, 'DELETE', `/v2.0/networks/${id}/tags/red`)).status, 204);
    const t = await net(s, alice, 'GET', `/v2.0/networks/${id}/tags`);
    assert.deepEqual(t.body.tags.sort(), ['blue', 'green']);
    const shown = await net(s, alice, 'GET', `/v2.0/networks/${id}`);
    assert.equal(shown.body.network.revision_number, 4);
  });

  it('honours If-Match: revision_number=N on update and delete (412 when stale)', async () => {
    const a = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'rev' } });
    const id = a.body.network.id;
    const put = (rev: number) => api(alice, 'PUT', `${s.netUrl}/v2.0/networks/${id}`, { network: { name: `r${rev}` } }, { 'if-match': `revision_number=${rev}` });
    assert.equal((await put(1)).status, 200);
    const stale = await put(1);
    assert.equal(stale.status, 412);
    assert.equal(stale.body.NeutronError.type, 'RevisionNumberConstraintFailed');
    assert.equal((await api(alice, 'DELETE', `${s.netUrl}/v2.0/networks/${id}`, undefined, { 'if-match': 'revision_number=1' })).status, 412);
    assert.equal((await api(alice, 'DELETE', `${s.netUrl}/v2.0/networks/${id}`, undefined, { 'if-match': 'revision_number=2' })).status, 204);
  });

  it('lists its extensions and shows one by alias', async () => {
    const r = await net(s, reader, 'GET', '/v2.0/extensions');
    assert.equal(r.status, 200);
    const aliases = r.body.extensions.map((e: { alias: string }) => e.alias);
    for (const a of ['security-group', 'binding', 'quotas', 'standard-attr-tag', 'pagination', 'agent']) assert.ok(aliases.includes(a), a);
    assert.equal((await net(s, reader, 'GET', '/v2.0/extensions/binding')).body.extension.alias, 'binding');
    assert.equal((await net(s, reader, 'GET', '/v2.0/extensions/nope')).status, 404);
  });

  it('refuses unknown attributes and bad values with 400 in Neutron format', async () => {
    const r = await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'x', bogus: 1 } });
    assert.equal(r.status, 400);
    assert.ok(r.body.NeutronError);
    assert.equal((await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'x', mtu: 9000 } })).status, 400);
    assert.equal((await net(s, alice, 'POST', '/v2.0/networks', { network: { name: 'a\u0000b' } })).status, 400);
  });
});
