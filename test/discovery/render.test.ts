import t from 'tap';
import { renderInventoryTable } from '../../agent/discovery/render.js';
import { gpu, inventory, npu } from '../helpers/sample-inventory.js';

t.test('a table shows host, drivers with every source, devices, labels and warnings', async (t) => {
  const inv = inventory([gpu(0), gpu(1, { health: 'Unhealthy', healthReason: 'Xid 79', numaNode: null, memoryMiB: null, deviceNodes: [] }), npu(0)], {
    labels: { 'nvidia.com/gpu.count': '2' },
    warnings: ['nvidia: something odd'],
  });
  inv.drivers = [
    {
      vendor: 'nvidia',
      version: '550.54.15',
      controlNodes: ['/dev/nvidiactl'],
      sources: [
        { source: 'nvml', ok: false, detail: 'NVML addon unavailable' },
        { source: 'nvidia-smi', ok: true, detail: '/usr/bin/nvidia-smi: 2 GPUs' },
      ],
    },
  ];
  const text = renderInventoryTable(inv);
  t.match(text, /^HOST node-a: Debian GNU\/Linux 12 \(bookworm\), kernel 6\.1\.0-18-amd64, x64, AMD EPYC 7763 64-Core Processor \(128 cores\), 515000 MiB\n/);
  t.match(text, /nvidia\s+550\.54\.15\s+nvml\s+failed\s+NVML addon unavailable\n\s+nvidia-smi\s+ok\s+\/usr\/bin\/nvidia-smi: 2 GPUs\n/);
  t.match(text, /control nodes \(nvidia\): \/dev\/nvidiactl/);
  t.match(text, /nvidia\s+0\s+gpu\s+NVIDIA A100-SXM4-40GB\s+0000:41:00\.0\s+0\s+40960 MiB\s+\/dev\/nvidia0\s+nvml\s+Healthy\s+GPU-/);
  t.match(text, /nvidia\s+1\s+gpu\s+.*\s+-\s+-\s+-\s+nvml\s+Unhealthy: Xid 79/);
  t.match(text, /hanguang\s+0\s+npu\s+Hanguang 800/);
  t.match(text, /LABELS\nnvidia\.com\/gpu\.count=2\n/);
  t.match(text, /WARNINGS\n- nvidia: something odd\n$/);
  const header = text.split('\n').find((l) => /^VENDOR\s+INDEX/.test(l))!;
  const row = text.split('\n').find((l) => l.startsWith('nvidia    0'))!;
  t.equal(header.indexOf('MODEL'), row.indexOf('NVIDIA'), 'columns line up');
});

t.test('an empty inventory says (none) and prints no warnings section', async (t) => {
  const inv = inventory([], { labels: {}, warnings: [] });
  inv.drivers = [];
  const text = renderInventoryTable(inv);
  t.match(text, /DRIVERS\n\(none\)\n/);
  t.match(text, /DEVICES\n\(none\)\n/);
  t.match(text, /LABELS\n\(none\)\n$/);
  t.notMatch(text, /WARNINGS/);
});

t.test('control characters from the host cannot reach the terminal', async (t) => {
  const inv = inventory([gpu(0, { model: 'Evil\x1b]0;pwned\x07GPU' })], { warnings: ['bad\x1b[2Jthing'] });
  const text = renderInventoryTable(inv);
  t.notMatch(text, /[\x1b\x07]/);
  t.match(text, /Evil\?\]0;pwned\?GPU/);
});
