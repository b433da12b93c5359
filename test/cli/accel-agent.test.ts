import t from 'tap';
import { existsSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { main } from '../../agent/cli/accel-agent.js';
import type { CliIO } from '../../agent/cli/io.js';
import { tempDir } from '../helpers/temp-dir.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';

function capture(env: Record<string, string> = {}) {
  const out: string[] = [];
  const err: string[] = [];
  const io: CliIO = { stdout: (s) => void out.push(s), stderr: (s) => void err.push(s), env: { ACCEL_AGENT_LOG_LEVEL: 'silent', ...env } };
  return { io, out: () => out.join(''), err: () => err.join('') };
}

t.test('help lists every command and the configuration flags', async (t) => {
  const c = capture();
  t.equal(await main(['--help'], c.io), 0);
  for (const cmd of ['run', 'discover', 'cdi generate', 'simhost create', 'demo', '--host-root', 'ACCEL_AGENT_SOCKET']) t.match(c.out(), cmd);
  const bare = capture();
  t.equal(await main([], bare.io), 2, 'no command is a usage error');
});

t.test('usage errors exit 2 and say what was wrong', async (t) => {
  const unknown = capture();
  t.equal(await main(['frobnicate'], unknown.io), 2);
  t.match(unknown.err(), /unknown command: frobnicate/);
  const badFlag = capture();
  t.equal(await main(['discover', '--no-such-flag'], badFlag.io), 2);
  t.match(badFlag.err(), /no-such-flag/);
  const badOutput = capture();
  t.equal(await main(['discover', '-o', 'xml', '--host-root', '/nonexistent'], badOutput.io), 2);
  t.match(badOutput.err(), /table or json/);
  const noProfile = capture();
  t.equal(await main(['simhost', 'create', '/tmp/x'], noProfile.io), 2);
  t.match(noProfile.err(), /--profile NAME is required/);
});

t.test('a bad config file exits 1 naming the key, before doing anything', async (t) => {
  const dir = await tempDir(t);
  const file = path.join(dir, 'agent.yaml');
  await writeFile(file, 'version: 1\nnvidia:\n  smiTimeout: forever\n');
  const c = capture();
  t.equal(await main(['discover', '--config', file], c.io), 1);
  t.match(c.err(), /nvidia\.smiTimeout: expected a duration/);
  t.match(c.err(), /ACCEL_ERR_CONFIG_INVALID/);
});

t.test('simhost profiles lists the built-in profiles', async (t) => {
  const c = capture();
  t.equal(await main(['simhost', 'profiles'], c.io), 0);
  for (const p of ['vgn5i', 'gn5', 'ebman1', 'empty']) t.match(c.out(), new RegExp(`^${p}:`, 'm'));
});

t.test('discover prints the inventory of a simulated vGPU host as JSON', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const c = capture();
  t.equal(await main(['discover', '--host-root', root, '-o', 'json'], c.io), 0, c.err());
  const inv = JSON.parse(c.out()) as { devices: { model: string; kind: string; memoryMiB: number }[]; labels: Record<string, string> };
  t.equal(inv.devices.length, 1);
  t.match(inv.devices[0], { model: 'GRID P4-2Q', kind: 'vgpu', memoryMiB: 2048 });
  t.match(inv.labels, { 'aliyun.accelerator/nvidia_count': '1', 'aliyun.accelerator/nvidia_mem': '2048MiB', 'aliyun.accelerator/nvidia_name': 'GRID-P4-2Q' });
});

t.test('cdi generate writes a spec for the simulated host', { skip: simhostUnavailable() }, async (t) => {
  const root = await simulatedHost('vgn5i');
  const out = await tempDir(t);
  const c = capture();
  t.equal(await main(['cdi', 'generate', '--host-root', root, '--output', out, '--cdi-host-prefix', 'root'], c.io), 0, c.err());
  t.ok(existsSync(path.join(out, 'accel-agent_nvidia.com_gpu.json')));
});

t.test('demo shows discovery and injection, then leaves nothing behind', { skip: simhostUnavailable() }, async (t) => {
  const c = capture();
  t.equal(await main(['demo'], c.io), 0, c.err());
  t.match(c.out(), /GRID P4-2Q/);
  t.match(c.out(), /nvidia\.com\/gpu=0/);
  t.match(c.out(), /kubelet: nvidia\.com\/gpu registered from accel-nvidia-com-gpu\.sock/, 'the simulated kubelet took the registration');
  t.match(c.out(), /cdi_devices: nvidia\.com\/gpu=GPU-/, 'and Allocate answered with the CDI name');
  t.match(c.out(), /\/dev\/nvidia0 \(rw\)/);
  t.match(c.out(), /Healthy -> Unhealthy \(Xid 79/, 'the injected Xid shows on the watch stream');
  t.match(c.out(), /Unhealthy -> Healthy/, 'and so does the recovery');
  t.match(c.out(), /collector holds \d+ records from demo-node \(acknowledged up to #\d+, 0 lost\)/, 'telemetry reached the embedded collector');
  t.match(c.out(), /event \[critical\] .*Xid 79/, 'the health event travelled with it');
  t.match(c.out(), /DCGM_FI_DEV_GPU_UTIL=\d+/);
  const work = /simulated vgn5i host in (\S+)\/host/.exec(c.out())?.[1];
  t.ok(work, 'the demo says where it worked');
  t.notOk(existsSync(work!), 'its temporary directory is gone');
});
