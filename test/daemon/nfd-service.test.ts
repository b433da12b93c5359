import t, { type Test } from 'tap';
import { mkdir, readFile, readdir, stat, utimes, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { DeviceRegistry } from '../../agent/daemon/device-registry.js';
import { NfdLabelService } from '../../agent/daemon/nfd-service.js';
import { NFD_FEATURE_FILE_NAME } from '../../agent/discovery/nfd-writer.js';
import { createLogger, silentLogger } from '../../agent/log.js';
import { gpu, inventory } from '../helpers/sample-inventory.js';
import { tempDir } from '../helpers/temp-dir.js';

async function setup(t: Test, withInventory = true) {
  const dir = path.join(await tempDir(t), 'features.d');
  await mkdir(dir);
  const registry = new DeviceRegistry(withInventory ? { initial: inventory([gpu(0)]) } : {});
  const service = new NfdLabelService({ dir, registry, logger: silentLogger });
  t.teardown(() => service.stop());
  return { dir, registry, service, file: path.join(dir, NFD_FEATURE_FILE_NAME) };
}

t.test('start publishes the current labels', async (t) => {
  const { service, file } = await setup(t);
  await service.start();
  const text = await readFile(file, 'utf8');
  t.match(text, /^accel\.example\.com\/nvidia\.count=1$/m);
  t.match(text, /^accel\.example\.com\/nvidia\.present=true$/m);
});

t.test('a device arriving rewrites the labels', async (t) => {
  const { service, registry, file } = await setup(t);
  await service.start();
  registry.update(inventory([gpu(0), gpu(1)]));
  await service.settled();
  t.match(await readFile(file, 'utf8'), /^accel\.example\.com\/nvidia\.count=2$/m);
});

t.test('a health change alone does not touch the file', async (t) => {
  const { service, registry, file } = await setup(t);
  await service.start();
  const past = new Date('2020-01-01T00:00:00Z');
  await utimes(file, past, past);
  const before = await stat(file);
  t.ok(registry.setHealth(gpu(0).id, 'Unhealthy', 'Xid 79'), 'the registry did change');
  await service.settled();
  const after = await stat(file);
  t.equal(after.mtimeMs, before.mtimeMs);
  t.equal(after.ino, before.ino);
});

t.test('nothing is written before the first inventory, so a failed scan never clears labels', async (t) => {
  const { service, registry, dir, file } = await setup(t, false);
  await writeFile(file, 'accel.example.com/nvidia.count=8\n');
  await service.start();
  t.equal(await readFile(file, 'utf8'), 'accel.example.com/nvidia.count=8\n', 'the previous labels stay');
  registry.update(inventory([gpu(0)]));
  await service.settled();
  t.match(await readFile(file, 'utf8'), /nvidia\.count=1$/m, 'the first inventory publishes');
  t.same(await readdir(dir), [NFD_FEATURE_FILE_NAME]);
});

t.test('without an NFD directory the service stays idle and start does not fail', async (t) => {
  const root = await tempDir(t);
  const registry = new DeviceRegistry({ initial: inventory([gpu(0)]) });
  const lines: string[] = [];
  const logger = createLogger('info', { write: (line: string) => void lines.push(line) });
  const service = new NfdLabelService({ dir: path.join(root, 'absent'), registry, logger });
  await service.start();
  registry.update(inventory([gpu(0), gpu(1)]));
  await service.settled();
  await service.stop();
  t.same(await readdir(root), [], 'no directory was created');
  t.equal(lines.length, 1, 'it said so once, and tried no write that could fail');
  t.match(lines[0], /NFD feature directory does not exist/);
});

t.test('a write failure is logged, not thrown, and the next change retries', async (t) => {
  const { service, registry, dir, file } = await setup(t);
  await service.start();
  // Replacing the file with a directory makes the next rename fail.
  const { rm } = await import('node:fs/promises');
  await rm(file);
  await mkdir(path.join(file, 'x'), { recursive: true });
  registry.update(inventory([gpu(0), gpu(1)]));
  await service.settled();
  t.ok((await stat(file)).isDirectory(), 'the failed write left things as they were');
  await rm(file, { recursive: true });
  registry.update(inventory([gpu(0), gpu(1), gpu(2)]));
  await service.settled();
  t.match(await readFile(file, 'utf8'), /nvidia\.count=3$/m);
  t.same((await readdir(dir)).filter((n) => n.startsWith('.')), [], 'no temporary files left');
});

t.test('stop keeps the file and stops following the registry', async (t) => {
  const { service, registry, file } = await setup(t);
  await service.start();
  await service.stop();
  registry.update(inventory([gpu(0), gpu(1)]));
  await service.settled();
  t.match(await readFile(file, 'utf8'), /nvidia\.count=1$/m, 'labels survive a restart of the agent');
});
