import t from 'tap';
import { DEFAULT_IGNORED_XIDS } from '../../agent/health/options.js';
import { XidPolicy, describeXid } from '../../agent/health/xid-policy.js';

t.test('application Xids are ignored by default and device Xids are critical', async (t) => {
  const p = new XidPolicy();
  for (const xid of [13, 31, 43, 45, 68, 109]) t.equal(p.classifyXid(xid), 'ignored', `Xid ${xid}`);
  for (const xid of [48, 79, 8, 32, 38, 62, 63, 64, 74, 92, 94, 95, 119, 120]) t.equal(p.classifyXid(xid), 'critical', `Xid ${xid}`);
  t.same([...DEFAULT_IGNORED_XIDS], [13, 31, 43, 45, 68, 109]);
});

t.test('an Xid nobody has heard of is critical, not ignored', async (t) => {
  const p = new XidPolicy();
  t.equal(p.classifyXid(0), 'critical');
  t.equal(p.classifyXid(9999), 'critical');
});

t.test('configured ignoredXids replace the default list', async (t) => {
  const p = new XidPolicy({ ignoredXids: [94] });
  t.equal(p.classifyXid(94), 'ignored');
  t.equal(p.classifyXid(13), 'critical', 'no longer on the list');
  const none = new XidPolicy({ ignoredXids: [] });
  t.equal(none.classifyXid(43), 'critical');
});

t.test('fatalXids win over ignoredXids', async (t) => {
  const p = new XidPolicy({ ignoredXids: [13, 31], fatalXids: [31] });
  t.equal(p.classifyXid(31), 'critical');
  t.equal(p.classifyXid(13), 'ignored');
  const q = new XidPolicy({ fatalXids: [43] });
  t.equal(q.classifyXid(43), 'critical', 'fatal overrides the default ignore list too');
});

t.test('events are classified with reasons an operator can read', async (t) => {
  const p = new XidPolicy();
  t.same(p.classify({ kind: 'xid', xid: 79 }), { verdict: 'critical', reason: 'Xid 79 (GPU has fallen off the bus)' });
  t.same(p.classify({ kind: 'xid', xid: 48 }), { verdict: 'critical', reason: 'Xid 48 (double-bit ECC error)' });
  t.equal(p.classify({ kind: 'xid', xid: 13 }).verdict, 'ignored');
  t.same(p.classify({ kind: 'ecc_double' }), { verdict: 'critical', reason: 'double-bit ECC error' });
  t.equal(p.classify({ kind: 'ecc_single' }).verdict, 'ignored', 'corrected errors do not take a device away');
});

t.test('describeXid names known Xids and falls back to the number', async (t) => {
  t.equal(describeXid(79), 'Xid 79 (GPU has fallen off the bus)');
  t.equal(describeXid(4242), 'Xid 4242');
});
