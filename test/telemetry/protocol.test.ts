import t from 'tap';
import { AccelError, ErrorCode } from '../../agent/errors.js';
import {
  CloseCode,
  MAX_CONTROL_BYTES,
  PROTOCOL_VERSION,
  checkDataMessage,
  closeCodeFor,
  encodeControl,
  isAgentId,
  parseCollectorMessage,
  parseHello,
} from '../../agent/telemetry/protocol.js';

const EPOCH = '0f'.repeat(16);
const hello = { type: 'hello', v: PROTOCOL_VERSION, agentId: 'gpu-node-01.cluster', epoch: EPOCH, oldestSeq: 5, newestSeq: 9 } as const;

function closeCodeOf(fn: () => unknown): number | null {
  try {
    fn();
    return null;
  } catch (err) {
    return closeCodeFor(err);
  }
}

t.test('control frames round-trip', async (t) => {
  t.same(parseHello(encodeControl(hello)), hello);
  t.same(parseCollectorMessage(encodeControl({ type: 'welcome', v: PROTOCOL_VERSION, ackedSeq: 4, maxFrameBytes: 4096 })), {
    type: 'welcome',
    v: PROTOCOL_VERSION,
    ackedSeq: 4,
    maxFrameBytes: 4096,
  });
  t.same(parseCollectorMessage('{"type":"ack","seq":12}'), { type: 'ack', seq: 12 });
});

t.test('an empty spool says hello with oldestSeq = newestSeq + 1', async (t) => {
  t.same(parseHello(JSON.stringify({ ...hello, oldestSeq: 1, newestSeq: 0 })).oldestSeq, 1);
});

t.test('bad hellos map to the close code that explains them', async (t) => {
  const cases: Array<[string, unknown, number]> = [
    ['not json', 'hello', CloseCode.PROTOCOL_ERROR],
    ['array', [], CloseCode.PROTOCOL_ERROR],
    ['wrong type', { ...hello, type: 'ack' }, CloseCode.PROTOCOL_ERROR],
    ['future version', { ...hello, v: 2 }, CloseCode.UNSUPPORTED_VERSION],
    ['missing version', { ...hello, v: undefined }, CloseCode.UNSUPPORTED_VERSION],
    ['path as agent id', { ...hello, agentId: '../x' }, CloseCode.PROTOCOL_ERROR],
    ['empty agent id', { ...hello, agentId: '' }, CloseCode.PROTOCOL_ERROR],
    ['upper-case epoch', { ...hello, epoch: EPOCH.toUpperCase() }, CloseCode.PROTOCOL_ERROR],
    ['negative seq', { ...hello, newestSeq: -1 }, CloseCode.PROTOCOL_ERROR],
    ['fractional seq', { ...hello, oldestSeq: 1.5 }, CloseCode.PROTOCOL_ERROR],
    ['oldest beyond newest + 1', { ...hello, oldestSeq: 11, newestSeq: 9 }, CloseCode.PROTOCOL_ERROR],
    ['oldest zero', { ...hello, oldestSeq: 0 }, CloseCode.PROTOCOL_ERROR],
  ];
  for (const [name, value, code] of cases) {
    t.equal(closeCodeOf(() => parseHello(typeof value === 'string' ? value : JSON.stringify(value))), code, name);
  }
  t.equal(closeCodeOf(() => parseHello(' '.repeat(MAX_CONTROL_BYTES + 1))), CloseCode.MESSAGE_TOO_BIG, 'oversized control frame');
});

t.test('bad collector messages are protocol errors', async (t) => {
  t.throws(() => parseCollectorMessage('{"type":"nack","seq":1}'), { code: ErrorCode.PROTOCOL, message: /unknown control frame/ });
  t.throws(() => parseCollectorMessage('{"type":"ack","seq":"1"}'), { code: ErrorCode.PROTOCOL });
  t.throws(() => parseCollectorMessage('{"type":"welcome","v":1,"ackedSeq":0,"maxFrameBytes":10}'), { code: ErrorCode.PROTOCOL, message: /maxFrameBytes/ });
  t.equal(closeCodeOf(() => parseCollectorMessage('{"type":"welcome","v":7,"ackedSeq":0,"maxFrameBytes":4096}')), CloseCode.UNSUPPORTED_VERSION);
});

t.test('binary messages must be tagged data frames within the size limit', async (t) => {
  t.doesNotThrow(() => checkDataMessage(Uint8Array.from([1, 0, 0]), 10));
  t.equal(closeCodeOf(() => checkDataMessage(Uint8Array.from([2, 0, 0]), 10)), CloseCode.PROTOCOL_ERROR);
  t.equal(closeCodeOf(() => checkDataMessage(Uint8Array.from([1]), 10)), CloseCode.PROTOCOL_ERROR);
  t.equal(closeCodeOf(() => checkDataMessage(new Uint8Array(11).fill(1), 10)), CloseCode.MESSAGE_TOO_BIG);
});

t.test('errors that are not protocol errors close as internal errors', async (t) => {
  t.equal(closeCodeFor(new Error('disk full')), CloseCode.INTERNAL_ERROR);
  t.equal(closeCodeFor(new AccelError(ErrorCode.SPOOL_IO, 'x')), CloseCode.INTERNAL_ERROR);
  t.equal(closeCodeFor(new AccelError(ErrorCode.PROTOCOL, 'no close code')), CloseCode.PROTOCOL_ERROR);
});

t.test('agent ids are host-name-like and never paths', async (t) => {
  for (const ok of ['node1', 'gpu-node-01.cluster.local', 'A_b-c.d', 'x'.repeat(128)]) t.ok(isAgentId(ok), ok);
  for (const bad of ['', '.', '..', '.hidden', 'a/b', 'a\\b', 'x'.repeat(129), 'sp ace', 'ü']) t.notOk(isAgentId(bad), bad);
});
