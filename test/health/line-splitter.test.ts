import t from 'tap';
import { LineSplitter } from '../../agent/health/line-splitter.js';

t.test('lines split across chunks are joined; the unfinished tail waits', async (t) => {
  const s = new LineSplitter(100);
  t.same(s.push(Buffer.from('first\nsec')), ['first']);
  t.same(s.push(Buffer.from('ond\nthi')), ['second']);
  t.same(s.push(Buffer.from('rd')), []);
  t.same(s.push(Buffer.from('\n\n')), ['third', '']);
});

t.test('a multi-byte character split between chunks survives', async (t) => {
  const s = new LineSplitter(100);
  const bytes = Buffer.from('temp 91°C\n');
  const cut = bytes.indexOf(0xb0); // second byte of the degree sign
  t.same([...s.push(bytes.subarray(0, cut)), ...s.push(bytes.subarray(cut))], ['temp 91°C']);
});

t.test('an overlong line is dropped whole and the next line is intact', async (t) => {
  const s = new LineSplitter(10);
  t.same(s.push(Buffer.from('0123456789ABC')), []);
  t.same(s.push(Buffer.from('DEFGH')), [], 'still inside the overlong line');
  t.same(s.push(Buffer.from('IJ\nok\n')), ['ok']);
  t.same(s.push(Buffer.from('0123456789\n')), ['0123456789'], 'exactly the limit is allowed');
});

t.test('a stream without newlines never grows the buffer past the limit', async (t) => {
  const s = new LineSplitter(64);
  const out: string[] = [];
  for (let i = 0; i < 1000; i++) out.push(...s.push(Buffer.alloc(1024, 0x41)));
  t.same(out, []);
  t.same(s.push(Buffer.from('\nafter\n')), ['after'], 'the overlong line is dropped, the next one kept');
});
