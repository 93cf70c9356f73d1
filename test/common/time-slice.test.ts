import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { TimeSlice } from '../../src/common/time-slice.js';

/** What a long loop lets run between its items: nothing inside its budget, the event loop once it is spent. */
describe('TimeSlice', () => {
  it('gives the event loop a turn once its budget is spent', async () => {
    const slice = new TimeSlice(0);
    let ran = false;
    setImmediate(() => {
      ran = true;
    });
    await slice.due();
    assert.equal(ran, true, 'a callback queued on the event loop ran inside due()');
  });

  it('does not yield while the budget lasts', async () => {
    const slice = new TimeSlice(60_000);
    let ran = false;
    const t = setImmediate(() => {
      ran = true;
    });
    for (let i = 0; i < 100; i++) await slice.due();
    assert.equal(ran, false, 'only microtasks ran: the loop kept its turn');
    clearImmediate(t);
  });
});
