import t from 'tap';
import { ErrorCode } from '../../../agent/errors.js';
import { parseSmiCsv, SMI_ARGS } from '../../../agent/vendors/nvidia/smi-parse.js';

const VGN5I = '0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, GRID P4-2Q, 00000000:00:07.0, 2048, 470.82.01, 0, VGPU\n';

const GN5 = Array.from(
  { length: 8 },
  (_, i) =>
    `${i}, GPU-0000000${i}-1111-2222-3333-444455556666, Tesla P100-PCIE-16GB, 00000000:${(0x80 + i * 8).toString(16).toUpperCase()}:00.0, 16280, 470.82.01, ${i}, Pass-Through`,
).join('\n');

t.test('the query asks for exactly the fields the parser reads, without header or units', async (t) => {
  t.same(SMI_ARGS, [
    '--query-gpu=index,uuid,name,pci.bus_id,memory.total,driver_version,minor_number,virtualization_mode',
    '--format=csv,noheader,nounits',
  ]);
});

t.test('a vGPU guest line parses into a vgpu-mode GPU with canonical bus id', async (t) => {
  const [g, ...rest] = parseSmiCsv(VGN5I);
  t.equal(rest.length, 0);
  t.same(g, {
    index: 0,
    uuid: 'GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b',
    name: 'GRID P4-2Q',
    pciBusId: '0000:00:07.0',
    memoryMiB: 2048,
    driverVersion: '470.82.01',
    minor: 0,
    virtualizationMode: 'vgpu',
  });
});

t.test('eight passthrough GPUs, CRLF endings and an empty trailing line', async (t) => {
  const gpus = parseSmiCsv(GN5.replace(/\n/g, '\r\n') + '\r\n');
  t.equal(gpus.length, 8);
  t.equal(gpus[7]!.pciBusId, '0000:b8:00.0');
  t.equal(gpus[3]!.minor, 3);
  t.ok(gpus.every((g) => g.virtualizationMode === 'passthrough'));
});

t.test('no GPUs: empty output is an empty list', async (t) => {
  t.same(parseSmiCsv(''), []);
  t.same(parseSmiCsv('\n'), []);
});

t.test('[N/A] and [Not Supported] become null where a value may be missing', async (t) => {
  const [g] = parseSmiCsv('0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, Tesla T4, 00000000:00:08.0, [N/A], [N/A], [N/A], [Not Supported]\n');
  t.equal(g!.memoryMiB, null);
  t.equal(g!.driverVersion, null);
  t.equal(g!.minor, null);
  t.equal(g!.virtualizationMode, null);
});

t.test('garbage fails the whole answer with the line and field named', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['NVIDIA-SMI has failed because it couldn\'t communicate with the NVIDIA driver.', /line 1: expected 8 fields/],
    ['No devices were found', /expected 8 fields/],
    [VGN5I + '1, GPU-5c4bd6ad, Tesla, 0000:00:08.0, 1, 1.0, 1, None', /line 2: uuid/],
    ['x, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4, 00000000:00:07.0, 1, 470.82.01, 0, None', /index/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4, 00000000:00:07, 1, 470.82.01, 0, None', /pci\.bus_id/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4, 00000000:00:07.0, 16 GiB, 470.82.01, 0, None', /memory\.total/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4, 00000000:00:07.0, 1, latest, 0, None', /driver_version/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4, 00000000:00:07.0, 1, 470.82.01, -1, None', /minor_number/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4, 00000000:00:07.0, 1, 470.82.01, 0, Sometimes', /virtualization_mode/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, , 00000000:00:07.0, 1, 470.82.01, 0, None', /name/],
    ['0, GPU-5c4bd6ad-2b6b-11ec-a9b3-00163e0c1a2b, T4\x1b[2J, 00000000:00:07.0, 1, 470.82.01, 0, None', /name/],
    [VGN5I + VGN5I.replace('0, GPU-5c4bd6ad', '1, GPU-6c4bd6ad'), /listed twice/],
    [VGN5I.slice(0, 40), /expected 8 fields/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseSmiCsv(text), { code: ErrorCode.NVIDIA_SMI, message }, JSON.stringify(text.slice(0, 50)));
  }
});
