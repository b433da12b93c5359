import t from 'tap';
import { describeMachine, machineFacts } from '../../bench/lib/machine.js';

t.test('machineFacts names this Node, its CPUs and the current load', async (t) => {
  const m = machineFacts();
  t.equal(m.node, process.version);
  t.ok(m.cpus >= 1);
  t.ok(m.loadAverage >= 0 && Number.isFinite(m.loadAverage));
  t.ok(m.cpuModel.length > 0);
});

t.test('describeMachine says all of it in one line', async (t) => {
  t.equal(describeMachine({ node: 'v20.20.2', cpus: 2, cpuModel: 'Some CPU', loadAverage: 9.456 }), 'Node v20.20.2, 2 CPUs (Some CPU), load average 9.5');
});
