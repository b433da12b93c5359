import t from 'tap';
import { HostRoot } from '../../agent/host/host-root.js';
import { collectHostFacts, fromNodeOs, type SystemInfo } from '../../agent/discovery/host-facts.js';
import { put, tempRoot } from '../helpers/sysfs-tree.js';

const answering: SystemInfo = {
  cpu: async () => ({ manufacturer: 'Intel', brand: 'Xeon Platinum 8269CY', cores: 104 }),
  mem: async () => ({ total: 384 * 1024 * 1024 * 1024 }),
  osInfo: async () => ({ distro: 'Alibaba Cloud Linux', release: '3', kernel: '5.10.134-16.al8.x86_64', arch: 'x64', hostname: 'node-7' }),
};

t.test('systeminformation answers: CPU, memory, OS and kernel come from it', async (t) => {
  t.same(await collectHostFacts({ systemInfo: answering }), {
    hostname: 'node-7',
    os: 'Alibaba Cloud Linux 3',
    kernel: '5.10.134-16.al8.x86_64',
    arch: 'x64',
    cpuModel: 'Intel Xeon Platinum 8269CY',
    cpuCores: 104,
    memoryMiB: 393216,
  });
});

t.test('systeminformation failing falls back to node:os', async (t) => {
  const failing: SystemInfo = { ...answering, mem: async () => Promise.reject(new Error('no /proc/meminfo')) };
  t.same(await collectHostFacts({ systemInfo: failing }), fromNodeOs());
});

t.test('systeminformation hanging is abandoned after the timeout', async (t) => {
  const hanging: SystemInfo = { ...answering, cpu: () => new Promise(() => {}) };
  const started = Date.now();
  const facts = await collectHostFacts({ systemInfo: hanging, timeoutMs: 200 });
  t.ok(Date.now() - started < 20_000);
  t.same(facts, fromNodeOs());
});

t.test('empty or absurd answers are filled from node:os field by field', async (t) => {
  const odd: SystemInfo = {
    cpu: async () => ({ manufacturer: '', brand: ' ', cores: 0 }),
    mem: async () => ({ total: NaN }),
    osInfo: async () => ({ distro: '', release: '', kernel: '', arch: '', hostname: '' }),
  };
  t.same(await collectHostFacts({ systemInfo: odd }), fromNodeOs());
});

t.test('under a host root, the host\'s os-release and hostname name the node', async (t) => {
  const root = await tempRoot('facts-');
  await put(root, '/etc/os-release', 'PRETTY_NAME="Alibaba Cloud Linux 3.2104 U10"\n');
  await put(root, '/etc/hostname', 'izbp1abc\n');
  const facts = await collectHostFacts({ systemInfo: answering, host: new HostRoot(root) });
  t.equal(facts.os, 'Alibaba Cloud Linux 3.2104 U10');
  t.equal(facts.hostname, 'izbp1abc');
  t.equal(facts.kernel, '5.10.134-16.al8.x86_64', 'the kernel is shared with the container anyway');
});

t.test('under a host root, missing or hostile files leave the answers alone', async (t) => {
  const root = await tempRoot('facts-');
  await put(root, '/etc/hostname', 'bad host name; rm -rf /\n');
  const facts = await collectHostFacts({ systemInfo: answering, host: new HostRoot(root) });
  t.equal(facts.hostname, 'node-7');
  t.equal(facts.os, 'Alibaba Cloud Linux 3');
});

t.test('the real systeminformation answers on this machine', async (t) => {
  const facts = await collectHostFacts({ timeoutMs: 20_000 });
  t.ok(facts.cpuCores > 0);
  t.ok(facts.memoryMiB > 0);
  t.ok(facts.kernel.length > 0);
});
