import net from 'node:net';
import path from 'node:path';
import { status } from '@grpc/grpc-js';
import t from 'tap';
import { ErrorCode } from '../../agent/errors.js';
import { registerWithKubelet } from '../../agent/kubelet/registration.js';
import { pluginDir, startKubelet } from '../helpers/kubelet-fixtures.js';

const request = {
  version: 'v1beta1',
  endpoint: 'accel-nvidia-com-gpu.sock',
  resourceName: 'nvidia.com/gpu',
  options: { preStartRequired: false, getPreferredAllocationAvailable: true },
};

t.test('sends the request to kubelet.sock exactly as given', async (t) => {
  const sim = await startKubelet(t);
  await registerWithKubelet(sim.dir, request);
  t.same(
    sim.registrations.map((r) => r.request),
    [request],
  );
});

t.test('a refusal is PLUGIN_REGISTER carrying kubelet\'s reason', async (t) => {
  const sim = await startKubelet(t);
  sim.refuseWith = { code: status.INVALID_ARGUMENT, details: 'resource already taken' };
  await t.rejects(registerWithKubelet(sim.dir, request), {
    code: ErrorCode.PLUGIN_REGISTER,
    message: /did not register nvidia.com\/gpu: resource already taken/,
    details: { resource: 'nvidia.com/gpu', endpoint: 'accel-nvidia-com-gpu.sock' },
  });
});

t.test('no kubelet at all fails fast rather than waiting', async (t) => {
  const dir = await pluginDir(t);
  const started = Date.now();
  await t.rejects(registerWithKubelet(dir, request, 20_000), { code: ErrorCode.PLUGIN_REGISTER });
  t.ok(Date.now() - started < 10_000, 'not held for the whole timeout');
});

t.test('a kubelet that accepts the connection but never answers hits the timeout', async (t) => {
  const dir = await pluginDir(t);
  const sockets = new Set<net.Socket>();
  const mute = net.createServer((s) => sockets.add(s));
  await new Promise<void>((resolve) => mute.listen(path.join(dir, 'kubelet.sock'), resolve));
  t.teardown(() => {
    for (const s of sockets) s.destroy();
    mute.close();
  });
  await t.rejects(registerWithKubelet(dir, request, 300), { code: ErrorCode.PLUGIN_REGISTER, message: /[Dd]eadline/ });
});
