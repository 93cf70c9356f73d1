/**
 * The conformance checks of contract 1.1's additions. Each applies only to a driver whose
 * handshake with this package agrees 1.1 or later (a 1.0 driver skips them), and a group's
 * check only to a driver that declares the group.
 */
import assert from 'node:assert/strict';
import type { Harness } from './conformance.js';
import { expectCode, must, Skip, type Check } from './conformance-steps.js';
import type { NodeEvent } from './contract.js';
import { Aborted } from './errors.js';
import { agreeContract, atLeast, requiredMethods, type AgreedContract } from './version.js';

/** The agreement with this package; Skip for a 1.0 driver (and an incompatible one: the handshake check fails it). */
function agreed(h: Harness): AgreedContract {
  let a: AgreedContract;
  try {
    a = agreeContract(h.driver.version());
  } catch (err) {
    throw new Skip(`no agreed contract (${err instanceof Error ? err.message : String(err)})`);
  }
  if (!atLeast(a.version, '1.1')) throw new Skip(`the driver agrees contract ${a.version}`);
  return a;
}

export const CHECKS_1_1: Check[] = [
  {
    name: '1.1: every method of the agreed contract and declared groups is there',
    raw: true,
    async run(h) {
      const a = agreed(h);
      const d = h.driver as unknown as Record<string, unknown>;
      const missing = requiredMethods(a).filter((m) => typeof d[m] !== 'function');
      assert.deepEqual(missing, [], `methods of contract ${a.version}${a.groups.length ? ` with ${a.groups.join(', ')}` : ''}`);
    },
  },
  {
    name: '1.1: status() reports the back-end reachable, with a latency',
    async run(h) {
      agreed(h);
      const s = await must(h.driver.status!(), 'status()');
      assert.equal(s.reachable, true, `status() of a working back-end: ${s.message}`);
      assert.ok(typeof s.latencyMs === 'number' && Number.isFinite(s.latencyMs) && s.latencyMs >= 0, `latencyMs ${String(s.latencyMs)}`);
      assert.equal(typeof s.message, 'string');
    },
  },
  {
    name: '1.1: node events can be subscribed to, are quiet while nodes stay, and unsubscribed',
    async run(h) {
      agreed(h);
      const seen: NodeEvent[] = [];
      const off = h.driver.onNodeEvent!((e) => seen.push(e));
      assert.equal(typeof off, 'function', 'onNodeEvent() returns its removal');
      await h.driver.listNodes();
      await h.driver.listNodes();
      assert.deepEqual(seen, [], 'node events while no node changed');
      off();
      off(); // removing twice is harmless
    },
  },
  {
    name: '1.1 nodeLookup: getNode() answers what listNodes() does, NodeNotFound for others',
    async run(h) {
      const a = agreed(h);
      if (!a.groups.includes('nodeLookup')) throw new Skip('group nodeLookup not declared');
      for (const n of h.nodes) {
        const got = await must(h.driver.getNode!(n.name), `getNode(${n.name})`);
        assert.deepEqual([got.name, got.uuid], [n.name, n.uuid]);
      }
      await expectCode(h.driver.getNode!('kit-no-such-node'), 'NodeNotFound', 'getNode() of an unknown node');
    },
  },
  {
    name: '1.1: a spawn whose signal is already aborted creates nothing',
    async run(h) {
      agreed(h);
      const s = h.spec();
      const ac = new AbortController();
      ac.abort(new Aborted('kit: aborted before the call'));
      await expectCode(h.driver.spawn(s, { signal: ac.signal }), 'Aborted', 'spawn() with an aborted signal');
      await expectCode(h.driver.getInstance({ uuid: s.uuid, node: s.node }), 'InstanceNotFound', 'getInstance() after an aborted spawn');
      await h.assertNoLeaks([s.uuid]);
    },
  },
];
