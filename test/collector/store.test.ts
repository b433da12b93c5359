import t from 'tap';
import { appendFile, readFile, stat, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Store } from '../../agent/collector/store.js';
import { encodeDevices, encodeEvent, encodeGap } from '../../agent/telemetry/payloads.js';
import { scanRecords } from '../../agent/telemetry/record-codec.js';
import { RecordType, type Sample } from '../../agent/telemetry/types.js';
import type { WireRecord } from '../../agent/telemetry/wire-codec.js';
import { tempDir } from '../helpers/temp-dir.js';

const EPOCH = 'aa'.repeat(16);
const now = Date.now();

function samples(seq: number, value = seq): WireRecord {
  const s: Sample[] = [{ ts: now + seq * 1000, deviceId: 'GPU-a', metrics: { DCGM_FI_DEV_GPU_UTIL: value, DCGM_FI_DEV_POWER_USAGE: value + 0.5 } }];
  return { seq, type: RecordType.SAMPLES, samples: s };
}

t.test('records are stored once, whatever order and however often they arrive', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open({ dataDir: dir });
  t.teardown(() => store.close());
  const s = store.stream('node-1', EPOCH);
  t.same(await store.append(s, [samples(1), samples(2)]), { stored: 2, duplicates: 0 });
  t.same(await store.append(s, [samples(2), samples(3), samples(3)]), { stored: 1, duplicates: 2 });
  t.same(await store.append(s, [samples(5)]), { stored: 1, duplicates: 0 });
  t.equal(store.ackedSeq(s), 3, 'the acknowledgement stops at the first missing number');
  await store.append(s, [samples(4)]);
  t.equal(store.ackedSeq(s), 5);
  const file = path.join(dir, 'agents', 'node-1', `${EPOCH}.log`);
  t.same(scanRecords(await readFile(file), 0, { increasing: false }).records.map((r) => r.seq), [1, 2, 3, 5, 4], 'arrival order on disk');
  t.equal((await stat(file)).mode & 0o777, 0o600);
});

t.test('gap records and the agent’s oldest held record settle numbers that will never come', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open({ dataDir: dir });
  t.teardown(() => store.close());
  const s = store.stream('node-1', EPOCH);
  await store.append(s, [samples(10), samples(11)]);
  t.equal(store.ackedSeq(s), 0);
  t.equal(store.ackedSeq(s, 10), 11, 'hello says 1..9 are settled');
  await store.append(s, [{ seq: 20, type: RecordType.GAP, payload: encodeGap({ ts: now, from: 12, to: 18, reason: 'budget' }) }]);
  t.equal(store.ackedSeq(s), 18, 'the gap settles 12..18; 19 is still missing');
  await store.append(s, [samples(19)]);
  t.equal(store.ackedSeq(s), 20);
});

t.test('a restart rebuilds everything from the files, including duplicate detection', async (t) => {
  const dir = await tempDir(t);
  const a = await Store.open({ dataDir: dir });
  const s = a.stream('node-1', EPOCH);
  await a.append(s, [samples(1, 40), samples(2, 41)]);
  await a.append(s, [{ seq: 3, type: RecordType.DEVICES, payload: encodeDevices({ ts: now, devices: [{ deviceId: 'GPU-a', labels: { gpu: '0', UUID: 'GPU-a' } }] }) }]);
  await a.append(s, [{ seq: 4, type: RecordType.EVENT, payload: encodeEvent({ ts: now, kind: 'xid', severity: 'critical', message: 'Xid 79' }) }]);
  await a.append(s, [{ seq: 6, type: RecordType.GAP, payload: encodeGap({ ts: now, from: 5, to: 5, reason: 'corrupt' }) }]);
  await a.close();

  const b = await Store.open({ dataDir: dir });
  t.teardown(() => b.close());
  const again = b.stream('node-1', EPOCH);
  t.equal(b.ackedSeq(again), 6);
  t.same(await b.append(again, [samples(2), samples(7)]), { stored: 1, duplicates: 1 });
  const agent = b.agent('node-1')!;
  const dev = agent.devices.get('GPU-a')!;
  t.same(dev.labels, { gpu: '0', UUID: 'GPU-a' });
  t.equal(dev.latest.get('DCGM_FI_DEV_GPU_UTIL')!.value, 7, 'latest value by sample time');
  t.equal(agent.recentEvents[0]!.message, 'Xid 79');
});

t.test('a torn record at the end of a store file is cut off at start-up', async (t) => {
  const dir = await tempDir(t);
  const a = await Store.open({ dataDir: dir });
  const s = a.stream('node-1', EPOCH);
  await a.append(s, [samples(1), samples(2)]);
  await a.close();
  const file = path.join(dir, 'agents', 'node-1', `${EPOCH}.log`);
  const good = (await stat(file)).size;
  await appendFile(file, Buffer.from([0xac, 0xe1, 0x01, 0x01, 0, 0, 0]));
  const b = await Store.open({ dataDir: dir });
  t.teardown(() => b.close());
  t.equal((await stat(file)).size, good);
  const again = b.stream('node-1', EPOCH);
  t.equal(b.ackedSeq(again), 2);
  await b.append(again, [samples(3)]);
  t.same(scanRecords(await readFile(file)).records.map((r) => r.seq), [1, 2, 3], 'appends continue on a clean file');
});

t.test('series queries return the newest points of one device', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open({ dataDir: dir });
  t.teardown(() => store.close());
  const s = store.stream('node-1', EPOCH);
  await store.append(s, [samples(3), samples(1), samples(2)]);
  const series = await store.series('node-1', 'GPU-a', 2);
  t.same(series.DCGM_FI_DEV_GPU_UTIL, [
    { ts: now + 2000, value: 2 },
    { ts: now + 3000, value: 3 },
  ]);
  t.same(series.DCGM_FI_DEV_POWER_USAGE!.map((p) => p.value), [2.5, 3.5]);
  t.same(await store.series('node-1', 'GPU-unknown'), {});
  t.same(await store.series('nobody', 'GPU-a'), {});
});

t.test('records the store cannot interpret are kept but do not settle anything', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open({ dataDir: dir });
  t.teardown(() => store.close());
  const s = store.stream('node-1', EPOCH);
  await store.append(s, [samples(1), { seq: 3, type: RecordType.GAP, payload: new TextEncoder().encode('{"garbage":true}') }]);
  t.equal(store.ackedSeq(s), 1, 'an unreadable gap record covers nothing');
  t.ok(s.stored.has(3), 'but it is stored as received');
});

t.test('stream names are checked before they become paths', async (t) => {
  const dir = await tempDir(t);
  const store = await Store.open({ dataDir: dir });
  t.teardown(() => store.close());
  t.throws(() => store.stream('../etc', EPOCH));
  t.throws(() => store.stream('node-1', '../../x'));
  await writeFile(path.join(dir, 'agents', 'stray-file'), 'x');
  const again = await Store.open({ dataDir: dir });
  t.same(again.agents().map((a) => a.agentId), [], 'stray entries are ignored');
  await again.close();
});
