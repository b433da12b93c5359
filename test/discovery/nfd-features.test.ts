import t from 'tap';
import { NFD_FILE_HEADER, NFD_MAX_FILE_BYTES, renderFeatureFile } from '../../agent/discovery/nfd-features.js';

const body = (text: string) => text.slice(NFD_FILE_HEADER.length);

t.test('labels become sorted key=value lines after a comment header', async (t) => {
  const out = renderFeatureFile({
    'nvidia.com/gpu.product': 'GRID-P4-2Q',
    'aliyun.accelerator/nvidia_count': '1',
    'aliyun.accelerator/nvidia_mem': '2048MiB',
  });
  t.ok(out.text.startsWith('#'), 'the header is a comment nfd-worker skips');
  t.notOk(out.text.startsWith('# +'), 'the header is not an nfd directive');
  t.equal(body(out.text), 'aliyun.accelerator/nvidia_count=1\naliyun.accelerator/nvidia_mem=2048MiB\nnvidia.com/gpu.product=GRID-P4-2Q\n');
  t.same(out.keys, ['aliyun.accelerator/nvidia_count', 'aliyun.accelerator/nvidia_mem', 'nvidia.com/gpu.product']);
  t.same(out.dropped, []);
});

t.test('the same labels in any insertion order give the same bytes', async (t) => {
  const a = renderFeatureFile({ 'b.io/x': '1', 'a.io/y': '2', plain: 'v' });
  const b = renderFeatureFile({ plain: 'v', 'a.io/y': '2', 'b.io/x': '1' });
  t.equal(a.text, b.text);
});

t.test('no labels give a file with only the header, which clears earlier labels', async (t) => {
  const out = renderFeatureFile({});
  t.equal(out.text, NFD_FILE_HEADER);
  t.same(out.keys, []);
});

t.test('an empty value is a valid label value and is kept', async (t) => {
  t.equal(body(renderFeatureFile({ 'x.io/empty': '' }).text), 'x.io/empty=\n');
});

t.test('invalid keys and values are dropped with a reason, valid ones kept', async (t) => {
  const out = renderFeatureFile({
    'good.io/ok': 'yes',
    'bad key': 'v',
    'x.io/inject\nevil.io/x': 'v',
    'x.io/eq=sign': 'v',
    'Upper.Case.io/k': 'v',
    ['x.io/' + 'n'.repeat(64)]: 'v',
    'x.io/newline-value': 'a\nevil.io/forged=1',
    'x.io/long-value': 'v'.repeat(64),
    'x.io/space-value': 'has space',
    '': 'v',
  });
  t.equal(body(out.text), 'good.io/ok=yes\n', 'only the valid label reaches the file');
  t.equal(out.dropped.length, 9);
  t.notMatch(out.text, /evil/, 'nothing forged a second line');
  t.ok(out.dropped.some((d) => d.includes('"bad key"') && d.includes('not a valid Kubernetes label key')));
  t.ok(out.dropped.some((d) => d.startsWith('label x.io/newline-value:') && d.includes('not a valid Kubernetes label value')));
});

t.test('a value that is not a string (from an untyped caller) is dropped', async (t) => {
  const out = renderFeatureFile({ 'x.io/n': 3 as unknown as string, 'x.io/ok': '1' });
  t.equal(body(out.text), 'x.io/ok=1\n');
  t.equal(out.dropped.length, 1);
});

t.test('labels that would push the file past the cap are left out; the rest fit', async (t) => {
  const labels: Record<string, string> = {};
  for (let i = 0; i < 2000; i++) labels[`accel.example.com/feature-${String(i).padStart(4, '0')}`] = 'v'.repeat(63);
  const out = renderFeatureFile(labels);
  t.ok(Buffer.byteLength(out.text) <= NFD_MAX_FILE_BYTES, 'never larger than nfd-worker accepts');
  t.ok(out.keys.length > 500 && out.keys.length < 2000);
  t.equal(out.keys.length + out.dropped.length, 2000, 'every label is either written or reported');
  t.match(out.dropped[0], /would exceed 65536 bytes/);
  t.equal(out.keys[0], 'accel.example.com/feature-0000', 'sorted order decides which fit');
});

t.test('a smaller label after a dropped large one still fits', async (t) => {
  const header = Buffer.byteLength(NFD_FILE_HEADER);
  const out = renderFeatureFile({ 'a.io/big': 'x'.repeat(60), 'b.io/s': '1' }, header + 10);
  t.same(out.keys, ['b.io/s']);
  t.equal(Buffer.byteLength(out.text), header + 'b.io/s=1\n'.length);
});
