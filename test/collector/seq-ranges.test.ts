import t from 'tap';
import { SeqRanges } from '../../agent/collector/seq-ranges.js';
import { randomInt, seededRandom } from '../helpers/seeded-random.js';

t.test('ranges merge when they touch or overlap', async (t) => {
  const r = new SeqRanges();
  r.add(1);
  r.add(2);
  r.add(5);
  t.same(r.list(), [[1, 2], [5, 5]]);
  r.addRange(3, 4);
  t.same(r.list(), [[1, 5]]);
  r.addRange(10, 20);
  r.addRange(8, 12);
  t.same(r.list(), [[1, 5], [8, 20]]);
  r.addRange(0, 100);
  t.same(r.list(), [[0, 100]]);
  r.addRange(5, 4);
  t.same(r.list(), [[0, 100]], 'an empty range changes nothing');
});

t.test('contiguousEnd is the end of the unbroken run from 1', async (t) => {
  const r = new SeqRanges();
  t.equal(r.contiguousEnd(), 0);
  r.add(2);
  t.equal(r.contiguousEnd(), 0, 'nothing settled while 1 is missing');
  r.add(1);
  t.equal(r.contiguousEnd(), 2);
  r.addRange(4, 9);
  t.equal(r.contiguousEnd(), 2);
  r.add(3);
  t.equal(r.contiguousEnd(), 9);
});

t.test('membership and size agree with a plain set (seeded)', async (t) => {
  const rand = seededRandom(5);
  const r = new SeqRanges();
  const plain = new Set<number>();
  for (let i = 0; i < 2000; i++) {
    const a = randomInt(rand, 1, 500);
    const b = a + randomInt(rand, 0, 3);
    r.addRange(a, b);
    for (let s = a; s <= b; s++) plain.add(s);
  }
  for (let s = 0; s <= 510; s++) if (r.has(s) !== plain.has(s)) t.fail(`membership of ${s}`);
  t.equal(r.size, plain.size);
  const list = r.list();
  for (let i = 1; i < list.length; i++) t.ok(list[i]![0] > list[i - 1]![1] + 1, 'disjoint and non-adjacent');
});
