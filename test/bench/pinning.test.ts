import t from 'tap';
import { parseCpuList, splitCpus } from '../../bench/lib/pinning.js';

t.test('kernel CPU lists expand to sorted CPU numbers', async (t) => {
  t.same(parseCpuList('0-1'), [0, 1]);
  t.same(parseCpuList('\t0-3,8,10-11\n'), [0, 1, 2, 3, 8, 10, 11]);
  t.same(parseCpuList('5'), [5]);
  t.same(parseCpuList('4,2-3,2'), [2, 3, 4], 'overlaps count once');
});

t.test('anything else is not a CPU list', async (t) => {
  for (const bad of ['', 'a', '3-1', '1-', '0,,1', '0-1-2']) t.throws(() => parseCpuList(bad), /not a CPU list/, JSON.stringify(bad));
});

t.test('the server gets the first CPU and the load the rest; one CPU cannot be split', async (t) => {
  t.same(splitCpus([0, 1]), { server: 0, load: [1] });
  t.same(splitCpus([4, 5, 6]), { server: 4, load: [5, 6] });
  t.equal(splitCpus([3]), null);
  t.equal(splitCpus([]), null);
});
