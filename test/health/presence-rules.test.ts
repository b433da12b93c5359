import t from 'tap';
import { isHot, judgePresence, parseMillidegrees, type PresenceObservation, type PresenceRules } from '../../agent/health/presence-rules.js';

const gpu = { vendor: 'nvidia', pciBusId: '0000:00:07.0' };
const fine: PresenceObservation = {
  pciProblem: null,
  driver: 'nvidia',
  missingNodes: [],
  driverPath: { path: '/proc/driver/nvidia', present: true },
  temperatureC: 50,
};
const rules: PresenceRules = { expectedDrivers: ['nvidia'], temperatureLimitC: 90, temperatureHysteresisC: 5 };

t.test('a device that is all there raises nothing and clears everything', async (t) => {
  t.same(judgePresence(gpu, fine, false, rules), {
    'pci-missing': null,
    'driver-unbound': null,
    'driver-unloaded': null,
    'node-missing': null,
    'over-temperature': null,
  });
});

t.test('a PCI function gone from the bus raises pci-missing and no driver complaint', async (t) => {
  const v = judgePresence(gpu, { ...fine, pciProblem: 'is gone from /sys/bus/pci/devices', driver: null }, false, rules);
  t.equal(v['pci-missing'], 'PCI function 0000:00:07.0 is gone from /sys/bus/pci/devices');
  t.equal(v['driver-unbound'], null, 'unbinding follows from the removal; one reason is enough');
});

t.test('no driver, or the wrong one, raises driver-unbound', async (t) => {
  t.equal(judgePresence(gpu, { ...fine, driver: null }, false, rules)['driver-unbound'], 'no driver bound to 0000:00:07.0');
  t.equal(
    judgePresence(gpu, { ...fine, driver: 'vfio-pci' }, false, rules)['driver-unbound'],
    '0000:00:07.0 is bound to vfio-pci, expected nvidia',
  );
  const anyDriver = { ...rules, expectedDrivers: null };
  t.equal(judgePresence(gpu, { ...fine, driver: 'whatever' }, false, anyDriver)['driver-unbound'], null, 'any driver when none is expected');
  t.not(judgePresence(gpu, { ...fine, driver: null }, false, anyDriver)['driver-unbound'], null, 'but some driver must be bound');
});

t.test('a missing driver path raises driver-unloaded; no path configured means no opinion', async (t) => {
  const v = judgePresence(gpu, { ...fine, driverPath: { path: '/proc/driver/nvidia', present: false } }, false, rules);
  t.equal(v['driver-unloaded'], 'nvidia driver is not loaded (/proc/driver/nvidia is missing)');
  t.notOk('driver-unloaded' in judgePresence(gpu, { ...fine, driverPath: null }, false, rules));
});

t.test('missing device nodes are listed', async (t) => {
  t.equal(judgePresence(gpu, { ...fine, missingNodes: ['/dev/nvidia0'] }, false, rules)['node-missing'], 'device node missing: /dev/nvidia0');
  t.equal(
    judgePresence(gpu, { ...fine, missingNodes: ['/dev/npu0', '/dev/npu0_ctl'] }, false, rules)['node-missing'],
    'device nodes missing: /dev/npu0, /dev/npu0_ctl',
  );
});

t.test('temperature: above the limit raises, hysteresis holds it, unknown keeps it, no limit clears it', async (t) => {
  t.equal(judgePresence(gpu, { ...fine, temperatureC: 90 }, false, rules)['over-temperature'], null, 'at the limit is fine');
  t.equal(judgePresence(gpu, { ...fine, temperatureC: 90.5 }, false, rules)['over-temperature'], 'temperature 90.5°C above the limit of 90°C');
  t.not(judgePresence(gpu, { ...fine, temperatureC: 86 }, true, rules)['over-temperature'], null, 'still hot until 5 degrees below');
  t.equal(judgePresence(gpu, { ...fine, temperatureC: 85 }, true, rules)['over-temperature'], null);
  t.notOk('over-temperature' in judgePresence(gpu, { ...fine, temperatureC: null }, true, rules), 'unknown temperature: keep as is');
  t.equal(judgePresence(gpu, { ...fine, temperatureC: 150 }, true, { ...rules, temperatureLimitC: null })['over-temperature'], null);
});

t.test('isHot applies the hysteresis only once hot', async (t) => {
  t.equal(isHot(88, false, 90, 5), false);
  t.equal(isHot(88, true, 90, 5), true);
  t.equal(isHot(85, true, 90, 0), false);
});

t.test('hwmon millidegrees parse; anything else is unknown', async (t) => {
  t.equal(parseMillidegrees('45000\n'), 45);
  t.equal(parseMillidegrees('91500'), 91.5);
  t.equal(parseMillidegrees('-5000'), -5);
  for (const bad of ['', 'hot', '4.5e4', '45000 45000', '0x1000', '9999999999999', '\u0000']) t.equal(parseMillidegrees(bad), null, JSON.stringify(bad));
});

t.test('an unloaded driver is the one reason, even with the functions unbound', async (t) => {
  const v = judgePresence(gpu, { ...fine, driver: null, driverPath: { path: '/proc/driver/nvidia', present: false } }, false, rules);
  t.equal(v['driver-unloaded'], 'nvidia driver is not loaded (/proc/driver/nvidia is missing)');
  t.equal(v['driver-unbound'], null, 'unbinding follows from the unload');
});
