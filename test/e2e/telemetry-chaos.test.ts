import t from 'tap';
import { readFile, readdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { decodeGap } from '../../agent/telemetry/payloads.js';
import { scanRecords } from '../../agent/telemetry/record-codec.js';
import { RecordType } from '../../agent/telemetry/types.js';
import { decodeSamplesPayload } from '../../agent/telemetry/wire-codec.js';
import { ChaosProxy } from '../helpers/chaos-proxy.js';
import { tempDir } from '../helpers/temp-dir.js';
import { TsChild } from '../helpers/ts-child.js';
import { sleep } from '../helpers/wait-for.js';

/**
 * End to end under fire: a producer process writes samples into its spool,
 * the client sends them through a proxy that drops, stalls, delays and
 * garbles connections, to a collector process. Both processes are killed with
 * SIGKILL and restarted along the way. At the end every sequence number the
 * agent used must be stored exactly once or be named in a gap record, and
 * every sample the producer was told is spooled must be found exactly once
 * (or lie in a reported gap).
 */

const here = path.dirname(fileURLToPath(import.meta.url));
const COLLECTOR = path.join(here, 'fixtures', 'collector-process.ts');
const AGENT = path.join(here, 'fixtures', 'agent-process.ts');

t.setTimeout(120_000);

t.test('nothing is lost or duplicated through proxy faults and SIGKILL of either side', async (t) => {
  const dir = await tempDir(t, 'accel-chaos-');
  const tokenFile = path.join(dir, 'token');
  await writeFile(tokenFile, 'chaos-token\n');
  const dataDir = path.join(dir, 'collector');
  const spoolDir = path.join(dir, 'spool');
  const children: TsChild[] = [];
  t.teardown(async () => {
    for (const c of children) await c.kill('SIGKILL');
  });

  const appended = new Map<number, number>();
  const events = new Map<number, number>();
  const startCollector = async (port: number) => {
    const c = new TsChild(COLLECTOR, ['--listen', `127.0.0.1:${port}`, '--data-dir', dataDir, '--token-file', tokenFile, '--log-level', 'warn']);
    children.push(c);
    return { child: c, port: Number((await c.waitForLine(/^listening (\d+)$/, 60_000))[1]) };
  };
  let runs = 0;
  const startAgent = async (url: string) => {
    const c = new TsChild(AGENT, ['--dir', spoolDir, '--url', url, '--token-file', tokenFile, '--run', String(++runs), '--period-ms', '20'], (line) => {
      const m = /^(appended|event) (\d+) (\d+)$/.exec(line);
      if (m) (m[1] === 'appended' ? appended : events).set(Number(m[2]), Number(m[3]));
    });
    children.push(c);
    return { child: c, epoch: (await c.waitForLine(/^epoch ([0-9a-f]{32})$/, 60_000))[1]! };
  };

  let collector = await startCollector(0);
  const port = collector.port;
  const proxy = await ChaosProxy.start({ targetPort: port, lifetimeMs: 110_000 });
  t.teardown(() => proxy.close());
  const url = `ws://127.0.0.1:${proxy.port}/v1/telemetry`;
  let agent = await startAgent(url);
  const epoch = agent.epoch;
  proxy.randomFaults(700, 600, 7);

  await sleep(3000);
  await collector.child.kill('SIGKILL');
  await sleep(2500);
  collector = await startCollector(port);
  await sleep(2500);
  await agent.child.kill('SIGKILL');
  agent = await startAgent(url);
  t.equal(agent.epoch, epoch, 'a restarted agent keeps its spool and epoch');
  await sleep(2500);
  await collector.child.kill('SIGKILL');
  collector = await startCollector(port);
  await sleep(2000);
  await agent.child.kill('SIGKILL');
  agent = await startAgent(url);
  await sleep(2000);

  proxy.stopFaults();
  agent.child.send('stop');
  const newest = Number((await agent.child.waitForLine(/^drained (\d+)$/, 45_000))[1]);
  await agent.child.exited;
  await collector.child.kill('SIGTERM');

  const files = await readdir(path.join(dataDir, 'agents', 'chaos-node'));
  t.same(files, [`${epoch}.log`], 'one stream: one agent, one epoch');
  const records = scanRecords(await readFile(path.join(dataDir, 'agents', 'chaos-node', files[0]!)), 0, { increasing: false }).records;
  const storedCount = new Map<number, number>();
  const gaps: Array<[number, number]> = [];
  const gapReasons = new Set<string>();
  const probeSeen = new Map<number, number>();
  for (const r of records) {
    storedCount.set(r.seq, (storedCount.get(r.seq) ?? 0) + 1);
    if (r.type === RecordType.GAP) {
      const g = decodeGap(r.payload);
      gaps.push([g.from, g.to]);
      gapReasons.add(g.reason);
    } else if (r.type === RecordType.SAMPLES) {
      for (const s of decodeSamplesPayload(r.payload)) if (s.deviceId === 'GPU-0') probeSeen.set(s.metrics.probe!, (probeSeen.get(s.metrics.probe!) ?? 0) + 1);
    }
  }
  const inGap = (seq: number) => gaps.some(([a, b]) => seq >= a && seq <= b);

  let duplicates = 0;
  let unaccounted = 0;
  let gapped = 0;
  let storedOnce = 0;
  for (let seq = 1; seq <= newest; seq++) {
    const n = storedCount.get(seq) ?? 0;
    if (n > 1) duplicates++;
    if (n === 1) storedOnce++;
    else if (inGap(seq)) gapped++;
    else unaccounted++;
  }
  let probesMissing = 0;
  let probesTwice = 0;
  for (const [probe, seq] of appended) {
    const seen = probeSeen.get(probe) ?? 0;
    if (seen > 1) probesTwice++;
    if (seen === 0 && !inGap(seq)) probesMissing++;
  }
  const eventsMissing = [...events.values()].filter((seq) => !storedCount.has(seq) && !inGap(seq)).length;

  t.comment(
    `sequence numbers: ${newest} used, ${storedOnce} stored once, ${gapped} in ${gaps.length} gap record(s) (${[...gapReasons].join(', ') || 'none'}), ${duplicates} duplicated, ${unaccounted} unaccounted`,
  );
  t.comment(`samples confirmed spooled: ${appended.size} (${probesMissing} missing, ${probesTwice} twice); events: ${events.size}`);
  t.comment(`agent runs: ${runs}, collector starts: 3, proxy connections: ${proxy.counts.connections}, faults: ${JSON.stringify(proxy.counts)}`);

  t.ok(newest > 500, 'the producer produced for real');
  t.equal(duplicates, 0, 'no sequence number stored twice');
  t.equal(unaccounted, 0, 'every sequence number stored or inside a gap record');
  t.equal(probesMissing, 0, 'every confirmed sample delivered or reported lost');
  t.equal(probesTwice, 0, 'no sample delivered twice');
  t.equal(eventsMissing, 0, 'every event delivered or reported lost');
  t.ok(proxy.counts.connections > 3, 'the client reconnected through the proxy');
});
