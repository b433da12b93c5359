import t from 'tap';
import { ErrorCode } from '../../../agent/errors.js';
import { parseGpuInformation } from '../../../agent/vendors/nvidia/information-parse.js';

const TESLA_P4 = [
  'Model: \t\t Tesla P4',
  'IRQ:   \t\t 37',
  'GPU UUID: \t GPU-e0ab8bbd-8ad9-8c4a-3ab0-79fa07e9b0a4',
  'Video BIOS: \t 86.04.55.00.01',
  'Bus Type: \t PCIe',
  'DMA Size: \t 47 bits',
  'DMA Mask: \t 0x7fffffffffff',
  'Bus Location: \t 0000:00:07.0',
  'Device Minor: \t 0',
  'GPU Excluded:\t No',
  '',
].join('\n');

t.test('a real information file gives model, UUID, bus id and minor', async (t) => {
  t.same(parseGpuInformation(TESLA_P4), {
    model: 'Tesla P4',
    uuid: 'GPU-e0ab8bbd-8ad9-8c4a-3ab0-79fa07e9b0a4',
    pciBusId: '0000:00:07.0',
    minor: 0,
  });
});

t.test('a GPU the driver has not initialised prints question marks: no UUID', async (t) => {
  const text = TESLA_P4.replace(/GPU-e0ab[^\n]*/, 'GPU-????????-????-????-????-????????????').replace('Device Minor: \t 0', 'Device Minor: \t 5');
  const info = parseGpuInformation(text);
  t.equal(info.uuid, null);
  t.equal(info.minor, 5);
});

t.test('a file without Device Minor still parses, minor unknown', async (t) => {
  t.equal(parseGpuInformation(TESLA_P4.replace(/Device Minor[^\n]*\n/, '')).minor, null);
});

t.test('garbage, truncation and hostile values are refused with the file named', async (t) => {
  const cases: Array<[string, RegExp]> = [
    ['', /no Model line/],
    ['\xff\xfe garbage \n', /no Model line/],
    [TESLA_P4.slice(0, 60), /no Bus Location line/],
    [TESLA_P4.replace('0000:00:07.0', 'somewhere'), /not a PCI address/],
    [TESLA_P4.replace('Device Minor: \t 0', 'Device Minor: \t -1'), /Device Minor/],
    [TESLA_P4.replace('Device Minor: \t 0', 'Device Minor: \t 99999'), /Device Minor/],
  ];
  for (const [text, message] of cases) {
    t.throws(() => parseGpuInformation(text, '/proc/driver/nvidia/gpus/0000:00:07.0/information'), {
      code: ErrorCode.HOST_PARSE,
      message: new RegExp(`^/proc/driver/nvidia/gpus/0000:00:07\\.0/information: .*${message.source}`),
    });
  }
});
