import t from 'tap';
import { nvidiaNodeNumbers, parseCharMajors, parseCharUevent } from '../../agent/inject/device-numbers.js';

const PROC_DEVICES = `Character devices:
  1 mem
  4 /dev/vc/0
195 nvidia-frontend
226 drm
236 nvidia-caps
508 nvidia-uvm
511 nvidia-nvlink

Block devices:
  8 sd
259 blkext
 508 nvidia-uvm
`;

t.test('/proc/devices: the char section maps names to majors, block entries are ignored', async (t) => {
  const majors = parseCharMajors(PROC_DEVICES);
  t.equal(majors.get('nvidia-frontend'), 195);
  t.equal(majors.get('nvidia-uvm'), 508);
  t.equal(majors.get('nvidia-caps'), 236);
  t.equal(majors.get('/dev/vc/0'), 4);
  t.notOk(majors.has('sd'), 'block devices are a different namespace');
  t.same([...parseCharMajors('')], []);
  t.same([...parseCharMajors('Block devices:\n  8 sd\n')], []);
  t.same([...parseCharMajors('Character devices:\n99999 huge\nabc def\n  7\n')], [], 'malformed lines are skipped');
});

t.test('NVIDIA node numbers follow the driver’s naming rules', async (t) => {
  const majors = parseCharMajors(PROC_DEVICES);
  t.same(nvidiaNodeNumbers('/dev/nvidia0', majors), { major: 195, minor: 0 });
  t.same(nvidiaNodeNumbers('/dev/nvidia7', majors), { major: 195, minor: 7 });
  t.same(nvidiaNodeNumbers('/dev/nvidiactl', majors), { major: 195, minor: 255 });
  t.same(nvidiaNodeNumbers('/dev/nvidia-modeset', majors), { major: 195, minor: 254 });
  t.same(nvidiaNodeNumbers('/dev/nvidia-uvm', majors), { major: 508, minor: 0 });
  t.same(nvidiaNodeNumbers('/dev/nvidia-uvm-tools', majors), { major: 508, minor: 1 });
  t.same(nvidiaNodeNumbers('/dev/nvidia-caps/nvidia-cap12', majors), { major: 236, minor: 12 });
  t.equal(nvidiaNodeNumbers('/dev/nvidia254', majors), null, 'minor 254 is the modeset node, not a GPU');
  t.equal(nvidiaNodeNumbers('/dev/nvidia-uvmx', majors), null);
  t.equal(nvidiaNodeNumbers('/dev/hanguang0', majors), null);
});

t.test('without /proc/devices the fixed NVIDIA major still applies, dynamic majors do not', async (t) => {
  const none = new Map<string, number>();
  t.same(nvidiaNodeNumbers('/dev/nvidia1', none), { major: 195, minor: 1 });
  t.equal(nvidiaNodeNumbers('/dev/nvidia-uvm', none), null);
  t.equal(nvidiaNodeNumbers('/dev/nvidia-caps/nvidia-cap1', none), null);
  t.same(nvidiaNodeNumbers('/dev/nvidiactl', new Map([['nvidia', 200]])), { major: 200, minor: 255 }, 'older drivers register as "nvidia"');
});

t.test('sysfs uevents give name and numbers; incomplete or hostile ones give null', async (t) => {
  t.same(parseCharUevent('MAJOR=240\nMINOR=3\nDEVNAME=hanguang3\n'), { devName: 'hanguang3', numbers: { major: 240, minor: 3 } });
  t.same(parseCharUevent('MAJOR=231\nMINOR=192\nDEVNAME=infiniband/uverbs0\n')?.devName, 'infiniband/uverbs0');
  t.equal(parseCharUevent('MAJOR=240\nDEVNAME=x\n'), null);
  t.equal(parseCharUevent('MAJOR=240\nMINOR=-1\nDEVNAME=x\n'), null);
  t.equal(parseCharUevent('MAJOR=240\nMINOR=1\nDEVNAME=\n'), null);
  t.equal(parseCharUevent('MAJOR=240\nMINOR=1\nDEVNAME=../etc/shadow\n'), null);
  t.equal(parseCharUevent(''), null);
});
