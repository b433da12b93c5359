import t from 'tap';
import { applyVerdict } from '../../agent/daemon/health-verdict.js';
import { gpu } from '../helpers/sample-inventory.js';

t.test('without a verdict discovery decides', async (t) => {
  t.same(applyVerdict(gpu(0), undefined), gpu(0));
  const sick = gpu(0, { health: 'Unhealthy', healthReason: 'fallen off the bus' });
  t.same(applyVerdict(sick, undefined), sick);
});

t.test('the monitor marking a device unhealthy wins over a healthy scan', async (t) => {
  const d = applyVerdict(gpu(0), { health: 'Unhealthy', reason: 'XID 79' });
  t.equal(d.health, 'Unhealthy');
  t.equal(d.healthReason, 'XID 79');
});

t.test('a healthy verdict does not hide what discovery saw', async (t) => {
  const d = applyVerdict(gpu(0, { health: 'Unhealthy', healthReason: 'NVML: GPU is lost' }), { health: 'Healthy', reason: '' });
  t.equal(d.health, 'Unhealthy');
  t.equal(d.healthReason, 'NVML: GPU is lost');
});

t.test('both unhealthy: both reasons kept, once each', async (t) => {
  const d = applyVerdict(gpu(0, { health: 'Unhealthy', healthReason: 'lost' }), { health: 'Unhealthy', reason: 'XID 48' });
  t.equal(d.healthReason, 'lost; XID 48');
  const same = applyVerdict(gpu(0, { health: 'Unhealthy', healthReason: 'XID 48' }), { health: 'Unhealthy', reason: ' XID 48 ' });
  t.equal(same.healthReason, 'XID 48');
});

t.test('a healthy device never carries a stale reason', async (t) => {
  const d = applyVerdict(gpu(0, { healthReason: 'old news' }), { health: 'Healthy', reason: 'ignored' });
  t.equal(d.health, 'Healthy');
  t.equal(d.healthReason, '');
});

t.test('the discovered device is not modified', async (t) => {
  const d = gpu(0);
  applyVerdict(d, { health: 'Unhealthy', reason: 'x' });
  t.equal(d.health, 'Healthy');
});
