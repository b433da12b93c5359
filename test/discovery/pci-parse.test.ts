import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import {
  formatPciId,
  parseClassPrefix,
  parseConfiguredPciId,
  parseNumaNode,
  parsePciClass,
  parsePciId,
  parseUevent,
  pciAddressOf,
  pciClassMatches,
} from '../../agent/discovery/pci-parse.js';

t.test('PCI ids are read exactly as the kernel prints them', async (t) => {
  t.equal(parsePciId('0x10de\n', 'vendor'), 0x10de);
  t.equal(parsePciId('0x1DED', 'vendor'), 0x1ded, 'upper case and no newline accepted');
  t.equal(parsePciClass('0x030200\n'), 0x030200);
  t.equal(parsePciClass('0x120000\n'), 0x120000);
});

t.test('truncated, padded or garbage id files are refused, naming the file', async (t) => {
  for (const bad of ['', '\n', '0x10\n', '0x10de0\n', '10de\n', '0x10dg\n', ' 0x10de\n', '0x10de\n\n', '0x10de\0', 'vendor']) {
    t.throws(() => parsePciId(bad, 'vendor'), { code: ErrorCode.HOST_PARSE, message: /^vendor:/ }, JSON.stringify(bad));
  }
  t.throws(() => parsePciClass('0x0300\n'), { code: ErrorCode.HOST_PARSE }, 'class with 4 digits is a truncated class');
  t.throws(() => parsePciClass('0x'.padEnd(5000, 'f')), { message: /…/ }, 'long garbage is shown shortened');
});

t.test('numa_node: -1 means unknown, garbage and absurd nodes are refused', async (t) => {
  t.equal(parseNumaNode('0\n'), 0);
  t.equal(parseNumaNode('1\n'), 1);
  t.equal(parseNumaNode('-1\n'), null);
  for (const bad of ['', 'x\n', '1.5\n', '-2\n', '4096\n', '0x1\n', '1 2\n']) {
    t.throws(() => parseNumaNode(bad), { code: ErrorCode.HOST_PARSE }, JSON.stringify(bad));
  }
});

t.test('uevent: good lines kept, bad lines set aside', async (t) => {
  const text = [
    'DRIVER=nvidia',
    'PCI_CLASS=30000',
    'PCI_ID=10DE:1BB3',
    'PCI_SLOT_NAME=0000:00:07.0',
    'MODALIAS=pci:v000010DEd00001BB3sv000010DEsd000011D8bc03sc02i00',
    'garbage line',
    '=novalue',
    'lower=case',
    'OF_COMPATIBLE=a=b',
    '',
  ].join('\n');
  const { values, rejected } = parseUevent(text);
  t.equal(values['DRIVER'], 'nvidia');
  t.equal(values['PCI_SLOT_NAME'], '0000:00:07.0');
  t.equal(values['OF_COMPATIBLE'], 'a=b', 'value keeps later "="');
  t.same(rejected, ['garbage line', '=novalue', 'lower=case']);
  t.equal(Object.getPrototypeOf(values), null, 'no prototype keys such as __proto__ can leak in');
  t.same(parseUevent('').values, {});
});

t.test('uevent with a key of __proto__ style cannot pollute objects', async (t) => {
  const { values, rejected } = parseUevent('__proto__=x\nconstructor=y\n');
  t.same(rejected.length, 2);
  t.equal(({} as Record<string, unknown>)['x'], undefined);
  t.same(Object.keys(values), []);
});

t.test('sysfs entry names: only full kernel addresses are PCI addresses', async (t) => {
  t.equal(pciAddressOf('0000:00:07.0'), '0000:00:07.0');
  t.equal(pciAddressOf('0000:AF:00.1'), '0000:af:00.1');
  t.equal(pciAddressOf('10000:00:01.0'), '10000:00:01.0', 'VMD domains have five digits');
  for (const bad of ['00:07.0', '0000:00:07.8', '0000:00:07', 'pci0000:00', '..', '0000:00:07.0x']) {
    t.equal(pciAddressOf(bad), null, bad);
  }
});

t.test('class prefixes match base class, subclass or the exact code', async (t) => {
  t.ok(pciClassMatches(0x030000, '0x03'), 'VGA is a display controller');
  t.ok(pciClassMatches(0x030200, '0x03'), '3D controller is a display controller');
  t.notOk(pciClassMatches(0x040300, '0x03'), 'audio function of a GPU is not');
  t.ok(pciClassMatches(0x120000, '0x1200'), 'processing accelerator');
  t.notOk(pciClassMatches(0x020000, '0x1200'), 'an Ethernet (eRDMA) function is not an accelerator');
  t.notOk(pciClassMatches(0x120100, '0x1200'), 'other subclass of 0x12');
  t.ok(pciClassMatches(0x030200, '0x030200'));
  t.notOk(pciClassMatches(0x030201, '0x030200'));
  for (const bad of ['03', '0x3', '0x123', '0x12000', '0x1200000', '0xzz']) {
    t.throws(() => parseClassPrefix(bad), { code: ErrorCode.HOST_PARSE }, bad);
  }
});

t.test('configured PCI ids need 0x and four hex digits', async (t) => {
  t.equal(parseConfiguredPciId('0x1ded'), 0x1ded);
  t.throws(() => parseConfiguredPciId('1ded'));
  t.throws(() => parseConfiguredPciId('0x1de'));
  t.equal(formatPciId(0x1bb3), '0x1bb3');
  t.equal(formatPciId(0x10), '0x0010');
});
