import t from 'tap';
import { SendWindow } from '../../agent/telemetry/send-window.js';

t.test('bulk starts after the acknowledged position and stops at the window', async (t) => {
  const w = new SendWindow(2);
  w.reset(10);
  t.equal(w.bulkCursor, 11);
  t.same(w.takeBulk([11, 12, 13]), [11, 12, 13]);
  t.equal(w.bulkCursor, 14);
  t.ok(w.canSendBulk());
  w.takeBulk([14]);
  t.notOk(w.canSendBulk(), 'two frames in flight');
  t.ok(w.onAck(13));
  t.ok(w.canSendBulk(), 'the first frame is acknowledged');
  t.notOk(w.onAck(12), 'an older ack changes nothing');
  t.equal(w.ackedSeq, 13);
});

t.test('priority records go once, ahead of the bulk, and are not sent again by it', async (t) => {
  const w = new SendWindow(4);
  w.reset(0);
  t.equal(w.nextPriority([50, 60]), 50);
  w.markPrioritySent(50);
  t.equal(w.nextPriority([50, 60]), 60);
  w.markPrioritySent(60);
  t.equal(w.nextPriority([50, 60]), undefined);
  t.same(w.takeBulk([48, 49, 50, 51]), [48, 49, 51], 'the bulk skips what went ahead');
  t.equal(w.bulkCursor, 52);
});

t.test('priority frames do not use up the bulk window', async (t) => {
  const w = new SendWindow(1);
  w.reset(0);
  for (const p of [90, 91, 92]) w.markPrioritySent(p);
  t.ok(w.canSendBulk());
  t.equal(w.inflightFrames, 0);
});

t.test('priority records the bulk already passed are not sent ahead', async (t) => {
  const w = new SendWindow(4);
  w.reset(0);
  w.takeBulk([1, 2, 3, 4, 5]);
  t.equal(w.nextPriority([3, 7]), 7);
});

t.test('a new connection forgets what the old one sent', async (t) => {
  const w = new SendWindow(4);
  w.reset(0);
  w.markPrioritySent(9);
  w.takeBulk([1, 2]);
  w.reset(1);
  t.equal(w.bulkCursor, 2);
  t.equal(w.nextPriority([9]), 9, 'sent again on the new connection');
  t.equal(w.inflightFrames, 0);
});

t.test('an acknowledgement ahead of the cursor moves the cursor', async (t) => {
  const w = new SendWindow(4);
  w.reset(0);
  w.onAck(40);
  t.equal(w.bulkCursor, 41);
  t.equal(w.nextPriority([30, 41]), 41);
});

t.test('a frame made only of records already sent ahead occupies no window slot', async (t) => {
  const w = new SendWindow(1);
  w.reset(0);
  w.markPrioritySent(3);
  t.same(w.takeBulk([3]), []);
  t.equal(w.inflightFrames, 0);
  t.equal(w.bulkCursor, 4);
});

t.test('the window size must be positive', async (t) => {
  t.throws(() => new SendWindow(0));
});
