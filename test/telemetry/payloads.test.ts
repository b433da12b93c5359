import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { decodeDevices, decodeEvent, decodeGap, encodeDevices, encodeEvent, encodeGap } from '../../agent/telemetry/payloads.js';
import type { TelemetryEvent } from '../../agent/telemetry/types.js';

const enc = (v: unknown) => new TextEncoder().encode(typeof v === 'string' ? v : JSON.stringify(v));

t.test('events, gaps and device labels round-trip', async (t) => {
  const event: TelemetryEvent = {
    ts: 1_700_000_000_000,
    kind: 'xid',
    severity: 'critical',
    message: 'Xid 79: GPU has fallen off the bus',
    deviceId: 'GPU-1',
    details: { xid: 79, fatal: true, pci: '0000:00:07.0' },
  };
  t.same(decodeEvent(encodeEvent(event)), event);
  const gap = { ts: 5, from: 10, to: 20, reason: 'budget' as const };
  t.same(decodeGap(encodeGap(gap)), gap);
  const devices = { ts: 6, devices: [{ deviceId: 'GPU-1', labels: { gpu: '0', UUID: 'GPU-1', modelName: 'Tesla P4' } }] };
  t.same(decodeDevices(encodeDevices(devices)), devices);
});

t.test('unknown extra fields are dropped rather than passed along', async (t) => {
  const e = decodeEvent(enc({ ts: 1, kind: 'k', severity: 'info', message: 'm', evil: { deep: 1 } }));
  t.same(Object.keys(e).sort(), ['kind', 'message', 'severity', 'ts']);
});

t.test('malformed and hostile payloads are refused with the caller’s error code', async (t) => {
  const bad: Array<[string, () => unknown]> = [
    ['not json', () => decodeEvent(enc('{nope'))],
    ['not utf-8', () => decodeEvent(Uint8Array.from([0x7b, 0xff, 0x7d]))],
    ['array', () => decodeEvent(enc([]))],
    ['bad severity', () => decodeEvent(enc({ ts: 1, kind: 'k', severity: 'fatal', message: 'm' }))],
    ['negative ts', () => decodeEvent(enc({ ts: -1, kind: 'k', severity: 'info', message: 'm' }))],
    ['empty kind', () => decodeEvent(enc({ ts: 1, kind: '', severity: 'info', message: 'm' }))],
    ['nested detail', () => decodeEvent(enc({ ts: 1, kind: 'k', severity: 'info', message: 'm', details: { a: {} } }))],
    ['huge message', () => decodeEvent(enc({ ts: 1, kind: 'k', severity: 'info', message: 'x'.repeat(5000) }))],
    ['oversized payload', () => decodeEvent(new Uint8Array(300 * 1024))],
    ['gap backwards', () => decodeGap(enc({ ts: 1, from: 9, to: 3, reason: 'budget' }))],
    ['gap zero', () => decodeGap(enc({ ts: 1, from: 0, to: 3, reason: 'budget' }))],
    ['gap reason', () => decodeGap(enc({ ts: 1, from: 1, to: 3, reason: 'oops' }))],
    ['devices not a list', () => decodeDevices(enc({ ts: 1, devices: {} }))],
    ['label not a string', () => decodeDevices(enc({ ts: 1, devices: [{ deviceId: 'a', labels: { gpu: 0 } }] }))],
    ['device without id', () => decodeDevices(enc({ ts: 1, devices: [{ labels: {} }] }))],
  ];
  for (const [name, fn] of bad) t.throws(fn, { code: ErrorCode.PROTOCOL }, name);
  t.throws(() => decodeGap(enc('[]'), ErrorCode.SPOOL_CORRUPT), { code: ErrorCode.SPOOL_CORRUPT }, 'spool callers get spool errors');
});

t.test('encoding checks what it is given too', async (t) => {
  t.throws(() => encodeGap({ ts: 1, from: 5, to: 4, reason: 'budget' }), { code: ErrorCode.PROTOCOL });
  t.throws(() => encodeEvent({ ts: 1.5, kind: 'k', severity: 'info', message: 'm' }), { code: ErrorCode.PROTOCOL });
});
