import t from 'tap';
import { Problem, boolean, byteSize, integer, integerList, parseDuration, stringList } from '../../agent/config/fields.js';

t.test('parseDuration understands each unit and refuses junk', async (t) => {
  t.equal(parseDuration('250ms'), 250);
  t.equal(parseDuration('30s'), 30_000);
  t.equal(parseDuration('5m'), 300_000);
  t.equal(parseDuration('1h'), 3_600_000);
  t.equal(parseDuration('1.5s'), 1500);
  t.equal(parseDuration('42'), 42);
  for (const bad of ['', 's', '-1s', '5 days', '1e9']) t.type(parseDuration(bad), Problem, bad);
});

t.test('integers respect bounds in both forms', async (t) => {
  const f = integer(1, { doc: '', min: 0, max: 10 });
  t.equal(f.fromValue(3), 3);
  t.equal(f.fromString('7'), 7);
  t.type(f.fromValue(11), Problem);
  t.type(f.fromValue(1.5), Problem);
  t.type(f.fromString('x'), Problem);
});

t.test('booleans accept the usual spellings from flags only as strings', async (t) => {
  const f = boolean(false, { doc: '' });
  t.equal(f.fromString('yes'), true);
  t.equal(f.fromString('OFF'), false);
  t.type(f.fromString('maybe'), Problem);
  t.type(f.fromValue('true'), Problem, 'a YAML string is not a boolean');
});

t.test('lists split on commas and check every item', async (t) => {
  t.same(stringList([], { doc: '' }).fromString('a, b,,c'), ['a', 'b', 'c']);
  t.type(stringList([], { doc: '' }).fromValue(['a', 2]), Problem);
  t.same(integerList([], { doc: '', min: 0 }).fromString('13,31'), [13, 31]);
  t.type(integerList([], { doc: '', min: 0 }).fromValue([1, -2]), Problem);
});

t.test('byte sizes take binary units', async (t) => {
  const f = byteSize(0, { doc: '', min: 1024 });
  t.equal(f.fromString('64KiB'), 65536);
  t.equal(f.fromValue('2GiB'), 2 * 1024 ** 3);
  t.equal(f.fromValue(4096), 4096);
  t.type(f.fromString('12'), Problem, 'below minimum');
  t.type(f.fromString('1TB'), Problem);
});
