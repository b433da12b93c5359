import t from 'tap';
import { AckClock } from '../../bench/lib/ack-clock.js';

t.test('an acknowledgement settles the frames whose last record it covers, each with its own wait', async (t) => {
  const clock = new AckClock();
  clock.sent(10, 100);
  clock.sent(20, 105);
  clock.sent(30, 110);
  t.same(clock.acked(9, 120), [], 'a frame is not settled until its last record is');
  t.same(clock.acked(20, 130), [
    { sentAt: 100, waited: 30 },
    { sentAt: 105, waited: 25 },
  ], 'one cumulative acknowledgement may cover several frames');
  t.same(clock.acked(20, 140), [], 'a repeated acknowledgement settles nothing twice');
  t.same(clock.acked(35, 150), [{ sentAt: 110, waited: 40 }]);
});

t.test('frames out of sequence order are refused', async (t) => {
  const clock = new AckClock();
  clock.sent(10, 0);
  t.throws(() => clock.sent(10, 1), /sequence order/);
  t.throws(() => clock.sent(5, 1), /sequence order/);
});
