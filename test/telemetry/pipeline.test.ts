import t from 'tap';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { Collector } from '../../agent/collector/server.js';
import { ErrorCode } from '../../agent/errors.js';
import { TelemetryPipeline, type TelemetryPipelineOptions } from '../../agent/telemetry/pipeline.js';
import { gpuSampler } from '../helpers/gpu-samples.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor } from '../helpers/wait-for.js';

type Tap = { teardown: (fn: () => unknown) => void };

async function setup(t: Tap) {
  const dir = await tempDir(t);
  const tokens = path.join(dir, 'token');
  await writeFile(tokens, 'tok\n');
  const collector = await Collector.start({ host: '127.0.0.1', port: 0, dataDir: path.join(dir, 'collector'), tokenFile: tokens });
  t.teardown(() => collector.close());
  const options: TelemetryPipelineOptions = {
    agentId: 'gpu-node-3',
    spool: { dir: path.join(dir, 'spool') },
    collector: { url: collector.url, tokenFile: tokens, lingerMs: 20, backoff: { baseMs: 20, capMs: 200 } },
  };
  return { dir, collector, options };
}

async function settled(p: TelemetryPipeline): Promise<void> {
  await waitFor(() => {
    const s = p.stats().spool;
    return s.newestSeq > 0 && s.ackedSeq === s.newestSeq;
  }, 'everything to be acknowledged');
}

t.test('samples, events and device labels reach the collector’s metrics and API', async (t) => {
  const { collector, options } = await setup(t);
  const p = await TelemetryPipeline.open(options);
  t.teardown(() => p.close());
  const sample = gpuSampler(2, 4);
  const ticks = [Date.now() - 2000, Date.now() - 1000, Date.now()];
  const ticksSamples = ticks.map((ts) => sample(ts));
  const deviceIds = ticksSamples[0]!.map((s) => s.deviceId);
  await p.describeDevices(deviceIds.map((id, i) => ({ deviceId: id, labels: { gpu: String(i), UUID: id, modelName: 'Tesla T4' } })));
  for (const samples of ticksSamples) await p.addSamples(samples);
  await p.addEvent({ ts: Date.now(), kind: 'xid', severity: 'critical', message: 'Xid 79 on GPU 1', deviceId: deviceIds[1] });
  await settled(p);

  const metrics = await (await fetch(`http://127.0.0.1:${collector.address.port}/metrics`)).text();
  const util = ticksSamples[2]![1]!.metrics.DCGM_FI_DEV_GPU_UTIL;
  t.match(metrics, new RegExp(`DCGM_FI_DEV_GPU_UTIL\\{Hostname="gpu-node-3",gpu="1",UUID="${deviceIds[1]}"[^}]*modelName="Tesla T4"[^}]*\\} ${util}\\n`));
  const agents = (await (await fetch(`http://127.0.0.1:${collector.address.port}/api/v1/agents`, { headers: { authorization: 'Bearer tok' } })).json()) as {
    agents: Array<{ recentEvents: Array<{ message: string }>; epochs: Array<{ epoch: string; records: number }> }>;
  };
  t.equal(agents.agents[0]!.recentEvents[0]!.message, 'Xid 79 on GPU 1');
  t.same(agents.agents[0]!.epochs.map((e) => [e.epoch, e.records]), [[p.epoch, 5]]);
});

t.test('bad input is refused before it reaches the spool', async (t) => {
  const { options } = await setup(t);
  const p = await TelemetryPipeline.open(options);
  t.teardown(() => p.close());
  await t.rejects(p.addSamples([{ ts: 1.5, deviceId: 'd', metrics: {} }]), { code: ErrorCode.TELEMETRY_INPUT });
  await t.rejects(p.addEvent({ ts: 1, kind: 'k', severity: 'fatal' as 'info', message: 'm' }), { code: ErrorCode.TELEMETRY_INPUT });
  await t.rejects(p.describeDevices([{ deviceId: '', labels: {} }]), { code: ErrorCode.TELEMETRY_INPUT });
  t.equal(p.stats().spool.newestSeq, 0);
});

t.test('a large tick is split over several records', async (t) => {
  const { options } = await setup(t);
  const p = await TelemetryPipeline.open({ ...options, maxValuesPerRecord: 14 * 4 });
  t.teardown(() => p.close());
  const seqs = await p.addSamples(gpuSampler(16, 1)(Date.now()));
  t.equal(seqs.length, 4);
  await settled(p);
});

t.test('records left unsent at close are delivered after the next open', async (t) => {
  const { options, collector } = await setup(t);
  const offline = await TelemetryPipeline.open({ ...options, collector: { ...options.collector, url: 'ws://127.0.0.1:9/v1/telemetry' } });
  await offline.addSamples(gpuSampler(1, 2)(Date.now()));
  await offline.addEvent({ ts: Date.now(), kind: 'k', severity: 'info', message: 'queued' });
  const epoch = offline.epoch;
  await offline.close();
  const p = await TelemetryPipeline.open(options);
  t.teardown(() => p.close());
  t.equal(p.epoch, epoch);
  await settled(p);
  t.same(collector.store.stream('gpu-node-3', epoch).stored.list(), [[1, 2]]);
});

t.test('a bad collector URL is refused without leaving the spool open', async (t) => {
  const { options } = await setup(t);
  await t.rejects(TelemetryPipeline.open({ ...options, collector: { url: 'http://nope' } }), { code: ErrorCode.CONFIG_INVALID });
  const p = await TelemetryPipeline.open(options);
  await p.close();
});
