import t from 'tap';
import { REPLICA_SEPARATOR, replicaIds } from '../../agent/kubelet/replicas.js';

t.test('one replica advertises the device id itself', async (t) => {
  t.same(replicaIds('GPU-a', 1), ['GPU-a']);
  t.same(replicaIds('GPU-a', 0), ['GPU-a'], 'nonsense counts never hide the device');
});

t.test('N replicas advertise <id>::0 to <id>::N-1', async (t) => {
  t.same(replicaIds('GPU-a', 3), ['GPU-a::0', 'GPU-a::1', 'GPU-a::2']);
  t.equal(REPLICA_SEPARATOR, '::');
  const npu = replicaIds('hanguang-0000:81:00.0', 2);
  t.same(npu, ['hanguang-0000:81:00.0::0', 'hanguang-0000:81:00.0::1'], 'ids with single colons keep them');
  t.equal(new Set(replicaIds('x', 100)).size, 100, 'all distinct');
});
