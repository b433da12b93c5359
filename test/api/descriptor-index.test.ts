import descriptor, { type IFileDescriptorProto } from 'protobufjs/ext/descriptor/index.js';
import t from 'tap';
import { DescriptorIndex } from '../../agent/api/descriptor-index.js';
import { API_DESCRIPTOR_SET_BASE64 } from '../../agent/api/gen/descriptors.js';
import { ErrorCode } from '../../agent/errors.js';

const apiSet = Buffer.from(API_DESCRIPTOR_SET_BASE64, 'base64');
const AGENT = 'accel/agent/v1/agent.proto';
const HEALTH = 'grpc/health/v1/health.proto';

/** Sets built with protobufjs, an encoder independent of the code under test. */
function encodeSet(files: IFileDescriptorProto[]): Uint8Array {
  return descriptor.FileDescriptorSet.encode(descriptor.FileDescriptorSet.fromObject({ file: files })).finish();
}

const invalidSet = { code: ErrorCode.API_DESCRIPTORS };

t.test('the generated set holds the agent and health files and their services', async (t) => {
  const index = DescriptorIndex.parse(apiSet);
  t.same(index.services, ['accel.agent.v1.AgentService', 'grpc.health.v1.Health']);
  t.equal(index.file(AGENT)?.package, 'accel.agent.v1');
  t.same(index.file(AGENT)?.dependencies, []);
  t.equal(index.file(HEALTH)?.package, 'grpc.health.v1');
  t.equal(index.file('health/v1/health.proto'), undefined, 'files go by the name they were compiled under');
});

t.test('every kind of symbol leads to the file declaring it', async (t) => {
  const index = DescriptorIndex.parse(apiSet);
  const fileOf = (symbol: string) => index.fileContainingSymbol(symbol)?.name;
  t.equal(fileOf('accel.agent.v1.AgentService'), AGENT, 'service');
  t.equal(fileOf('accel.agent.v1.AgentService.WatchDevices'), AGENT, 'method');
  t.equal(fileOf('accel.agent.v1.Device'), AGENT, 'message');
  t.equal(fileOf('accel.agent.v1.Device.pci_bus_id'), AGENT, 'field');
  t.equal(fileOf('accel.agent.v1.Vendor'), AGENT, 'enum');
  t.equal(fileOf('accel.agent.v1.VENDOR_NVIDIA'), AGENT, 'enum value, in the scope around its enum');
  t.equal(fileOf('grpc.health.v1.HealthCheckResponse.ServingStatus'), HEALTH, 'nested enum');
  t.equal(fileOf('grpc.health.v1.HealthCheckResponse.SERVICE_UNKNOWN'), HEALTH, 'value of a nested enum');
  t.equal(fileOf('grpc.health.v1.HealthListResponse.StatusesEntry'), HEALTH, 'nested message (a map entry)');
  t.equal(fileOf('grpc.health.v1.Health.Watch'), HEALTH);
});

t.test('names that are not declared find nothing', async (t) => {
  const index = DescriptorIndex.parse(apiSet);
  for (const symbol of ['', 'accel', 'accel.agent.v1', '.accel.agent.v1.Device', 'accel.agent.v1.Vendor.VENDOR_NVIDIA', 'accel.agent.v1.Nope', 'Device']) {
    t.equal(index.fileContainingSymbol(symbol), undefined, JSON.stringify(symbol));
  }
  t.equal(index.file('nope.proto'), undefined);
});

t.test('only message types count as messages', async (t) => {
  const index = DescriptorIndex.parse(apiSet);
  t.ok(index.isMessage('accel.agent.v1.Device'));
  t.ok(index.isMessage('grpc.health.v1.HealthListResponse.StatusesEntry'));
  t.notOk(index.isMessage('accel.agent.v1.Vendor'));
  t.notOk(index.isMessage('accel.agent.v1.AgentService'));
  t.notOk(index.isMessage('accel.agent.v1.Device.id'));
});

t.test("a file's bytes are the FileDescriptorProto exactly as the set carried it", async (t) => {
  const index = DescriptorIndex.parse(apiSet);
  const decoded = descriptor.FileDescriptorSet.decode(apiSet).toJSON() as { file: IFileDescriptorProto[] };
  for (const file of decoded.file) {
    const bytes = index.file(file.name!)?.bytes;
    t.ok(bytes, String(file.name));
    t.same(descriptor.FileDescriptorProto.decode(bytes!).toJSON(), file, `${file.name} decodes to what the set holds`);
  }
});

t.test('a file comes with everything it imports, directly or not, each file once', async (t) => {
  const index = DescriptorIndex.parse(
    encodeSet([
      { name: 'base.proto', package: 'p' },
      { name: 'left.proto', package: 'p', dependency: ['base.proto'] },
      { name: 'right.proto', package: 'p', dependency: ['base.proto'] },
      { name: 'top.proto', package: 'p', dependency: ['left.proto', 'right.proto'], messageType: [{ name: 'Top' }] },
    ]),
  );
  const names = (name: string) => index.withDependencies(index.file(name)!).map((f) => f.name);
  t.same(names('top.proto'), ['top.proto', 'left.proto', 'right.proto', 'base.proto'], 'the shared import once, the asked-for file first');
  t.same(names('left.proto'), ['left.proto', 'base.proto']);
  t.same(names('base.proto'), ['base.proto']);
  t.equal(index.fileContainingSymbol('p.Top')?.name, 'top.proto');
});

t.test('a file without a package declares its symbols at the top level', async (t) => {
  const index = DescriptorIndex.parse(
    encodeSet([{ name: 'bare.proto', messageType: [{ name: 'Outer', nestedType: [{ name: 'Inner' }], oneofDecl: [{ name: 'choice' }] }], service: [{ name: 'S', method: [{ name: 'M' }] }] }]),
  );
  t.same(index.services, ['S']);
  for (const symbol of ['Outer', 'Outer.Inner', 'Outer.choice', 'S', 'S.M']) t.equal(index.fileContainingSymbol(symbol)?.name, 'bare.proto', symbol);
});

t.test('bytes that are not a descriptor set are refused with a clear error', async (t) => {
  t.throws(() => DescriptorIndex.parse(new Uint8Array()), { ...invalidSet, message: /holds no files/ });
  t.throws(() => DescriptorIndex.parse(Buffer.from('definitely not protobuf, just some text')), invalidSet);
  t.throws(() => DescriptorIndex.parse(new Uint8Array(64).fill(0xff)), { ...invalidSet, message: /not a valid FileDescriptorSet/ });
  t.throws(() => DescriptorIndex.parse(apiSet.subarray(0, apiSet.length - 10)), { ...invalidSet, message: /not a valid FileDescriptorSet/ }, 'truncated');
  t.throws(() => DescriptorIndex.parse(apiSet.subarray(3)), invalidSet, 'cut at the front');
  const err = t.throws(() => DescriptorIndex.parse(apiSet.subarray(0, 100)));
  t.match((err as Error).cause, RangeError, 'the cause says what the reader found');
});

t.test('a length that wraps negative is refused rather than read backwards', async (t) => {
  // Field 1, length-delimited, length 0xfffffffa (-6 as int32): a reader that trusted it would step back onto the tag forever.
  t.throws(() => DescriptorIndex.parse(Uint8Array.of(0x0a, 0xfa, 0xff, 0xff, 0xff, 0x0f)), { ...invalidSet, message: /not a valid/ });
});

t.test('a name that is not UTF-8 is refused', async (t) => {
  // FileDescriptorSet { file { name: 0xff 0xfe } }
  t.throws(() => DescriptorIndex.parse(Uint8Array.of(0x0a, 0x04, 0x0a, 0x02, 0xff, 0xfe)), invalidSet);
});

t.test('sets that decode but cannot be served truthfully are refused', async (t) => {
  t.throws(() => DescriptorIndex.parse(encodeSet([{ package: 'p' }])), { ...invalidSet, message: /a file has no name/ });
  t.throws(() => DescriptorIndex.parse(encodeSet([{ name: 'a.proto', messageType: [{}] }])), { ...invalidSet, message: /a message in a.proto has no name/ });
  t.throws(() => DescriptorIndex.parse(encodeSet([{ name: 'a.proto', messageType: [{ name: 'M', field: [{ number: 1 }] }] }])), { ...invalidSet, message: /in M .*no name/ });
  t.throws(() => DescriptorIndex.parse(encodeSet([{ name: 'a.proto' }, { name: 'a.proto' }])), { ...invalidSet, message: /a.proto twice/ });
  t.throws(
    () => DescriptorIndex.parse(encodeSet([{ name: 'a.proto', package: 'p', messageType: [{ name: 'M' }] }, { name: 'b.proto', package: 'p', enumType: [{ name: 'M' }] }])),
    { ...invalidSet, message: /p.M is declared in both a.proto and b.proto/ },
  );
  t.throws(() => DescriptorIndex.parse(encodeSet([{ name: 'a.proto', dependency: ['gone.proto'] }])), { ...invalidSet, message: /a.proto imports gone.proto/ });
  const extension = { name: 'ext', number: 100, extendee: '.p.M', type: 9 }; // TYPE_STRING
  t.throws(() => DescriptorIndex.parse(encodeSet([{ name: 'a.proto', package: 'p', extension: [extension] }])), { ...invalidSet, message: /a.proto declares extensions/ });
  t.throws(() => DescriptorIndex.parse(encodeSet([{ name: 'a.proto', package: 'p', messageType: [{ name: 'M', extension: [extension] }] }])), {
    ...invalidSet,
    message: /p.M declares extensions/,
  });
});
