import path from 'node:path';
import t, { type Test } from 'tap';
import { parse, parseAllDocuments } from 'yaml';
import { ApiServer } from '../../agent/api/server.js';
import { main } from '../../agent/cli/accelctl.js';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { packageVersion } from '../../agent/package-root.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';
import { socketDir } from '../helpers/unix-sockets.js';

interface Result {
  code: number;
  out: string;
  err: string;
}

function startCli(argv: string[], env: Record<string, string | undefined> = {}, signal?: AbortSignal) {
  const io = { out: '', err: '' };
  const done = main(argv, {
    stdout: (s) => void (io.out += s),
    stderr: (s) => void (io.err += s),
    env,
    ...(signal ? { signal } : {}),
  }).then((code): Result => ({ code, out: io.out, err: io.err }));
  return { io, done };
}

const run = (argv: string[], env: Record<string, string | undefined> = {}) => startCli(argv, env).done;

async function agent(t: Test) {
  const registry = new DeviceRegistry({ initial: inventory([gpu(0), gpu(1), npu(0)]) });
  const socketPath = path.join(socketDir(t), 'agent.sock');
  const server = new ApiServer({ registry, socketPath, agentVersion: '7.7.7', shutdownTimeoutMs: 2000 });
  await server.start();
  t.teardown(() => server.stop());
  return { registry, server, socketPath };
}

async function eventually(cond: () => boolean, what: string): Promise<void> {
  const until = Date.now() + 20_000;
  while (!cond()) {
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

t.test('--help and -h print usage on stdout and exit 0', async (t) => {
  for (const flag of ['--help', '-h']) {
    const r = await run([flag]);
    t.equal(r.code, 0);
    t.match(r.out, /^Usage: accelctl \[options\] <command>/);
    t.match(r.out, /device <id>/);
    t.equal(r.err, '');
  }
});

t.test('--version prints the package version', async (t) => {
  const r = await run(['--version']);
  t.equal(r.code, 0);
  t.equal(r.out, `accelctl ${packageVersion()}\n`);
  t.equal((await run(['-V'])).out, r.out);
});

t.test('usage errors exit 2 with a reason and a pointer to --help, touching no socket', async (t) => {
  const cases: [string[], RegExp][] = [
    [[], /a command is required/],
    [['frobnicate'], /unknown command "frobnicate"/],
    [['device'], /exactly one device id/],
    [['device', 'a', 'b'], /exactly one device id/],
    [['device', ''], /exactly one device id/],
    [['devices', 'extra'], /devices takes no arguments/],
    [['watch', 'now'], /watch takes no arguments/],
    [['devices', '-o', 'xml'], /unknown output format "xml"/],
    [['devices', '--output'], /--output/],
    [['devices', '--frobnicate'], /frobnicate/],
    [['--socket', '', 'devices'], /--socket needs a path/],
  ];
  for (const [argv, reason] of cases) {
    const r = await run(argv, { ACCELCTL_SOCKET: '/nonexistent/never.sock' });
    t.equal(r.code, 2, argv.join(' '));
    t.match(r.err, reason, argv.join(' '));
    t.match(r.err, /Try 'accelctl --help'/);
    t.equal(r.out, '');
  }
});

t.test('agent not running: exit 1 with a clear error naming the socket', async (t) => {
  const socketPath = path.join(socketDir(t), 'agent.sock');
  for (const cmd of [['devices'], ['device', 'x'], ['host'], ['watch']]) {
    const r = await run(['--socket', socketPath, ...cmd]);
    t.equal(r.code, 1, cmd.join(' '));
    t.ok(r.err.startsWith(`accelctl: agent API socket ${socketPath} does not exist (is accel-agent running?)`), r.err);
    t.match(r.err, /ACCEL_ERR_API_UNAVAILABLE/);
    t.equal(r.err.split('\n').length, 2, 'one line');
    t.equal(r.out, '');
  }
});

t.test('devices: table, JSON and YAML each parse back to what the agent holds', async (t) => {
  const { socketPath } = await agent(t);
  const expected = { revision: 3, devices: [gpu(0), gpu(1), npu(0)] };

  const json = await run(['devices', '-o', 'json', '--socket', socketPath]);
  t.equal(json.code, 0);
  t.same(JSON.parse(json.out), expected);

  const yaml = await run(['--output=yaml', 'devices', '-s', socketPath]);
  t.equal(yaml.code, 0);
  t.same(parse(yaml.out), expected);

  const table = await run(['devices', '--socket', socketPath]);
  t.equal(table.code, 0);
  const [header, ...rows] = table.out.trimEnd().split('\n');
  t.match(header, /^ID\s+VENDOR\s+KIND\s+INDEX\s+PCI BUS ID\s+NUMA\s+MEMORY MIB\s+HEALTH\s+MODEL$/);
  t.same(
    rows.map((r) => r.split(/\s{2,}/).slice(0, 5)),
    expected.devices.map((d) => [d.id, d.vendor, d.kind, String(d.index), d.pciBusId]),
  );
});

t.test('device ID shows one device in every format; an unknown id exits 1', async (t) => {
  const { socketPath } = await agent(t);
  const env = { ACCELCTL_SOCKET: socketPath };
  t.same(JSON.parse((await run(['device', npu(0).id, '-o', 'json'], env)).out), npu(0));
  t.same(parse((await run(['device', gpu(1).id, '-o', 'yaml'], env)).out), gpu(1));
  const table = await run(['device', gpu(1).id], env);
  t.match(table.out, new RegExp(`^ID:\\s+${gpu(1).id}$`, 'm'));
  t.match(table.out, /^PCI bus ID:\s+0000:42:00\.0$/m);

  const missing = await run(['device', 'GPU-nope'], env);
  t.equal(missing.code, 1);
  t.match(missing.err, /^accelctl: no device with id "GPU-nope".*ACCEL_ERR_NOT_FOUND/);
  t.equal(missing.out, '');
});

t.test('host shows facts, drivers and the agent version in every format', async (t) => {
  const { socketPath } = await agent(t);
  const env = { ACCELCTL_SOCKET: socketPath };
  const json = JSON.parse((await run(['host', '-o', 'json'], env)).out);
  t.equal(json.agentVersion, '7.7.7');
  t.same(json.host, inventory([]).host);
  t.same(json.drivers, inventory([]).drivers);
  t.equal(json.deviceCount, 3);
  t.same(parse((await run(['host', '-o', 'yaml'], env)).out), json);
  const table = await run(['host'], env);
  t.equal(table.code, 0);
  t.match(table.out, /^Hostname:\s+node-a$/m);
  t.match(table.out, /^Agent version:\s+7\.7\.7$/m);
  t.match(table.out, /^nvidia\s+550\.54\.15/m);
});

t.test('--socket wins over ACCELCTL_SOCKET', async (t) => {
  const { socketPath } = await agent(t);
  const r = await run(['devices', '-o', 'json', '--socket', socketPath], { ACCELCTL_SOCKET: '/nonexistent/never.sock' });
  t.equal(r.code, 0);
  const wrong = await run(['devices', '--socket', '/nonexistent/never.sock'], { ACCELCTL_SOCKET: socketPath });
  t.equal(wrong.code, 1);
  t.match(wrong.err, /\/nonexistent\/never\.sock/);
});

for (const format of ['json', 'yaml', 'table'] as const) {
  t.test(`watch -o ${format}: one line or document per event until interrupted`, async (t) => {
    const { socketPath, registry, server } = await agent(t);
    const ac = new AbortController();
    const cli = startCli(['watch', '-o', format, '--socket', socketPath], {}, ac.signal);
    await eventually(() => cli.io.out.includes(npu(0).id), 'the snapshot');
    registry.setHealth(gpu(0).id, 'Unhealthy', 'XID 79');
    registry.update(inventory([gpu(0), gpu(1)]));
    await eventually(() => cli.io.out.split(npu(0).id).length > 2, 'the removal');
    ac.abort();
    const r = await cli.done;
    t.equal(r.code, 0, 'interrupting is a normal end');
    t.equal(r.err, '');
    await eventually(() => server.watchCount() === 0, 'the server to drop the stream');

    if (format === 'json') {
      const lines = r.out.trimEnd().split('\n').map((l) => JSON.parse(l));
      t.same(lines.map((e) => [e.type, e.revision]), [
        ['snapshot', 3],
        ['health', 4],
        ['removed', 5],
      ]);
      t.equal(lines[1].device.healthReason, 'XID 79');
    } else if (format === 'yaml') {
      const docs = parseAllDocuments(r.out);
      const values = Array.isArray(docs) ? docs.map((d) => d.toJS()) : [];
      t.same(values.map((e) => [e.type, e.revision]), [
        ['snapshot', 3],
        ['health', 4],
        ['removed', 5],
      ]);
      t.same(values[0].devices.map((d: { id: string }) => d.id), [gpu(0).id, gpu(1).id, npu(0).id]);
    } else {
      const [header, ...rows] = r.out.trimEnd().split('\n');
      t.match(header, /^REVISION\s+EVENT\s+ID\s+HEALTH\s+DETAIL$/);
      t.same(
        rows.map((l) => l.split(/\s+/).slice(0, 4)),
        [
          ['3', 'snapshot', gpu(0).id, 'Healthy'],
          ['3', 'snapshot', gpu(1).id, 'Healthy'],
          ['3', 'snapshot', npu(0).id, 'Healthy'],
          ['4', 'health', gpu(0).id, 'Unhealthy'],
          ['5', 'removed', npu(0).id, 'Healthy'],
        ],
      );
    }
  });
}

t.test('watch exits 1 when the agent ends the stream', async (t) => {
  const { socketPath, server } = await agent(t);
  const cli = startCli(['watch', '-o', 'json', '--socket', socketPath], {}, new AbortController().signal);
  await eventually(() => cli.io.out.includes('snapshot'), 'the snapshot');
  await server.stop();
  const r = await cli.done;
  t.equal(r.code, 1);
  t.match(r.err, /the agent ended the watch/);
});
