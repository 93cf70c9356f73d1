import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { DELIVER_AGAIN, HandledMessages } from '../../src/rpc/amqp-dedup.js';

const tick = () => new Promise((r) => setImmediate(r));

describe('HandledMessages (de-duplication of redeliveries)', () => {
  it('knows an id per scope and hands a duplicate the first outcome', async () => {
    const handled = new HandledMessages();
    handled.set('topic compute.n1', 'm1', Promise.resolve('{"ok":true,"result":1}'));
    assert.equal(await handled.get('topic compute.n1', 'm1'), '{"ok":true,"result":1}');
    assert.equal(handled.get('topic compute.n2', 'm1'), undefined, 'another topic (or fanout listener) is another scope');
    assert.equal(handled.get('topic compute.n1', 'm2'), undefined);
  });

  it('a duplicate of a message still running waits for it; one whose run asked to be delivered again is run again', async () => {
    const handled = new HandledMessages();
    let finish!: (o: string | null | typeof DELIVER_AGAIN) => void;
    handled.set('s', 'busy', new Promise((r) => (finish = r)));
    const duplicate = handled.get('s', 'busy');
    assert.ok(duplicate, 'known while it runs: a redelivery does not run it twice');
    finish(DELIVER_AGAIN);
    assert.equal(await duplicate, DELIVER_AGAIN, 'the duplicate learns the run did not finish');
    await tick();
    assert.equal(handled.get('s', 'busy'), undefined, 'forgotten: its next delivery runs');
    handled.set('s', 'done', Promise.resolve(null));
    await tick();
    assert.ok(handled.get('s', 'done'), 'a finished run stays known');
  });

  it('forgets the least recently seen ids past its capacity', () => {
    const handled = new HandledMessages(3);
    for (const id of ['a', 'b', 'c']) handled.set('s', id, Promise.resolve(null));
    assert.ok(handled.get('s', 'a')); // refreshed: now b is the oldest
    handled.set('s', 'd', Promise.resolve(null));
    assert.equal(handled.size, 3);
    assert.equal(handled.get('s', 'b'), undefined);
    for (const id of ['a', 'c', 'd']) assert.ok(handled.get('s', id), id);
  });

  it('past its reply budget drops the oldest replies but still knows their ids', async () => {
    const handled = new HandledMessages(100, 10);
    handled.set('s', 'old', Promise.resolve('123456'));
    await tick();
    handled.set('s', 'new', Promise.resolve('abcdef'));
    await tick();
    assert.equal(await handled.get('s', 'old'), null, 'the id is known; its reply is gone');
    assert.equal(await handled.get('s', 'new'), 'abcdef');
  });
});
