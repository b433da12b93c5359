import t from 'tap';
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdir, readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { execa } from 'execa';
import { packageRoot } from '../../agent/package-root.js';
import { replugPciFunction, unplugPciFunction } from '../../agent/simhost/mutate.js';
import { tempDir } from '../helpers/temp-dir.js';
import { waitFor, waitForValue } from '../helpers/wait-for.js';
import { simhostUnavailable, simulatedHost } from '../helpers/simulated-hosts.js';

// These run the built binaries exactly as an operator would: `npm test` builds dist/ first.
const agentBin = path.join(packageRoot(), 'bin/accel-agent.js');
const ctlBin = path.join(packageRoot(), 'bin/accelctl.js');
const distMissing = existsSync(path.join(packageRoot(), 'dist/agent/cli/accel-agent.js')) ? false : 'dist/ is not built: run npm run build:ts';

function exited(child: ChildProcess): Promise<number | null> {
  return new Promise((resolve) => child.once('exit', (code) => resolve(code)));
}

async function devices(socket: string): Promise<{ id: string; pciBusId: string }[]> {
  const r = await execa('node', [ctlBin, '--socket', socket, 'devices', '-o', 'json'], { reject: false });
  if (r.exitCode !== 0) throw new Error(r.stderr);
  return (JSON.parse(r.stdout) as { devices: { id: string; pciBusId: string }[] }).devices;
}

t.test('accel-agent run serves devices, follows hot-plug, and stops cleanly on SIGTERM', { skip: simhostUnavailable() || distMissing }, async (t) => {
  const root = await simulatedHost('ebman1');
  const work = await tempDir(t, 'run-');
  const socket = path.join(work, 'agent.sock');
  const cdiDir = path.join(work, 'cdi');
  const nfdDir = path.join(work, 'nfd');
  await mkdir(cdiDir);
  await mkdir(nfdDir);
  const child = spawn(
    'node',
    [agentBin, 'run', '--host-root', root, '--socket', socket, '--cdi-dir', cdiDir, '--cdi-host-prefix', 'root',
      '--kubelet-dir', path.join(work, 'no-kubelet'), '--nfd-dir', nfdDir, '--rescan-interval', '1s', '--log-level', 'info'],
    { stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let logs = '';
  child.stderr!.on('data', (d: Buffer) => (logs += d.toString()));
  const done = exited(child);
  t.teardown(() => void child.kill('SIGKILL'));

  const initial = await waitForValue(() => devices(socket), 'the API to answer');
  t.ok(initial.length >= 2, `the NPUs are served (${initial.length})`);
  t.match(logs, /"level":"info"/, 'logs are JSON with string levels');
  t.ok((await readdir(cdiDir)).some((f) => f.startsWith('accel-agent_')), 'a CDI spec was written at start');

  const labels = await waitForValue(() => readFile(path.join(nfdDir, 'accel-agent'), 'utf8'), 'the NFD feature file');
  t.match(labels, new RegExp(`^aliyun\\.accelerator/npu_count=${initial.length}$`, 'm'), 'node labels are published for NFD');
  t.match(logs, /kubelet|device-plugin/i, 'the missing kubelet directory is reported, not fatal');

  const victim = initial[0]!;
  await unplugPciFunction(root, victim.pciBusId);
  await waitFor(async () => !(await devices(socket)).some((d) => d.id === victim.id), 'the unplugged NPU to disappear');
  await replugPciFunction(root, victim.pciBusId);
  await waitFor(async () => (await devices(socket)).some((d) => d.id === victim.id), 'the NPU to come back');

  child.kill('SIGTERM');
  t.equal(await done, 0, 'SIGTERM ends the daemon with status 0');
  t.notOk(existsSync(socket), 'the socket is removed');
  t.match(logs, /agent stopped/);
});

t.test('accelctl says clearly when the agent is not running', { skip: distMissing }, async (t) => {
  const work = await tempDir(t, 'ctl-');
  const r = await execa('node', [ctlBin, '--socket', path.join(work, 'none.sock'), 'devices'], { reject: false });
  t.equal(r.exitCode, 1);
  t.match(r.stderr, /none\.sock/);
});
