import t from 'tap';
import { ServiceGroup, type Service } from '../../agent/daemon/service.js';
import { silentLogger } from '../../agent/log.js';

function recorder(log: string[], name: string, failStart = false, failStop = false): Service {
  return {
    name,
    start: async () => {
      if (failStart) throw new Error(`${name} broke`);
      log.push(`start ${name}`);
    },
    stop: async () => {
      log.push(`stop ${name}`);
      if (failStop) throw new Error(`${name} would not stop`);
    },
  };
}

t.test('services stop in the reverse of the order they started', async (t) => {
  const log: string[] = [];
  const g = new ServiceGroup(silentLogger);
  await g.start([recorder(log, 'a'), recorder(log, 'b'), recorder(log, 'c')]);
  await g.stop();
  t.same(log, ['start a', 'start b', 'start c', 'stop c', 'stop b', 'stop a']);
});

t.test('a failed start stops what already started and passes the error on', async (t) => {
  const log: string[] = [];
  const g = new ServiceGroup(silentLogger);
  await t.rejects(g.start([recorder(log, 'a'), recorder(log, 'b', true), recorder(log, 'c')]), /b broke/);
  t.same(log, ['start a', 'stop a']);
});

t.test('one service failing to stop does not keep the others running', async (t) => {
  const log: string[] = [];
  const g = new ServiceGroup(silentLogger);
  await g.start([recorder(log, 'a'), recorder(log, 'b', false, true)]);
  await g.stop();
  t.same(log, ['start a', 'start b', 'stop b', 'stop a']);
});
