import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { HashRing } from '../../src/common/hash-ring.js';

const keys = (n: number) => Array.from({ length: n }, (_, i) => `node-${i}`);
const assign = (ring: HashRing, ks: string[]) => new Map(ks.map((k) => [k, ring.owner(k)]));

describe('hash ring', () => {
  it('answers null on an empty ring and the one member on a ring of one', () => {
    assert.equal(new HashRing([]).owner('x'), null);
    assert.equal(new HashRing(['a']).owner('x'), 'a');
  });

  it('is the same ring whatever the order members are given in', () => {
    const a = assign(new HashRing(['c1', 'c2', 'c3']), keys(200));
    const b = assign(new HashRing(['c3', 'c1', 'c2', 'c1']), keys(200));
    assert.deepEqual(a, b);
  });

  it('spreads 1000 keys over 3 members within 25 % of even', () => {
    const counts = new Map<string, number>();
    for (const owner of assign(new HashRing(['compute1', 'compute2', 'compute3']), keys(1000)).values()) {
      counts.set(owner!, (counts.get(owner!) ?? 0) + 1);
    }
    assert.equal(counts.size, 3);
    for (const [m, n] of counts) assert.ok(Math.abs(n - 333) < 333 * 0.25, `${m} owns ${n}`);
  });

  it('moves only the leaver’s keys when a member leaves, and only about 1/n when one joins', () => {
    const ks = keys(1000);
    const three = assign(new HashRing(['a', 'b', 'c']), ks);
    const two = assign(new HashRing(['a', 'b']), ks);
    for (const k of ks) if (three.get(k) !== 'c') assert.equal(two.get(k), three.get(k), `${k} moved though its owner stayed`);
    const moved = ks.filter((k) => two.get(k) !== three.get(k)).length;
    assert.equal(moved, ks.filter((k) => three.get(k) === 'c').length);
    const four = assign(new HashRing(['a', 'b', 'c', 'd']), ks);
    const joined = ks.filter((k) => four.get(k) !== three.get(k));
    assert.ok(joined.every((k) => four.get(k) === 'd'), 'a join moved keys between old members');
    assert.ok(joined.length < 1000 * 0.35, `a join moved ${joined.length} of 1000`);
  });
});

describe('hash ring placement bounded to an even share', () => {
  const members = ['compute1', 'compute2', 'compute3'];
  const uuids = (seed: number, n: number) => Array.from({ length: n }, (_, i) => `${seed}-node-${i}`);

  it('places 30 new keys 10 to a member, and the answer is a fixed point', () => {
    for (let seed = 0; seed < 50; seed++) {
      const ring = new HashRing(members);
      const ks = uuids(seed, 30);
      const placed = ring.place(ks, new Map());
      const counts = members.map((m) => [...placed.values()].filter((o) => o === m).length);
      assert.deepEqual(counts, [10, 10, 10], `seed ${seed}`);
      assert.deepEqual(ring.place(ks, placed), placed, `seed ${seed}: placing again moved keys`);
    }
  });

  it('on a leave moves only the leaver’s keys; on its return it takes back at most a third, and survivors trade none', () => {
    let worst = 0;
    for (let seed = 0; seed < 200; seed++) {
      const ks = uuids(seed, 30);
      const three = new HashRing(members).place(ks, new Map());
      const two = new HashRing(['compute1', 'compute2']).place(ks, three);
      for (const k of ks) if (three.get(k) !== 'compute3') assert.equal(two.get(k), three.get(k), `seed ${seed}: ${k} moved though its owner stayed`);
      const back = new HashRing(members).place(ks, two);
      const moved = ks.filter((k) => back.get(k) !== two.get(k));
      assert.ok(moved.every((k) => back.get(k) === 'compute3'), `seed ${seed}: a rejoin moved keys between survivors`);
      assert.ok(moved.length <= 10, `seed ${seed}: the rejoin moved ${moved.length} of 30`);
      worst = Math.max(worst, moved.length);
    }
    assert.ok(worst > 0);
  });
});
